"""``lift3d train-prior``: the text prior (:mod:`lift3d.train.prior`), or with a first argument ``novel-view`` the
novel-view prior (:mod:`lift3d.train.novel_view`)."""

from __future__ import annotations


def main(argv: list[str], prog: str = "lift3d train-prior") -> None:
    if argv[:1] == ["novel-view"]:
        from lift3d.train.novel_view import main as novel_view_main

        novel_view_main(argv[1:], prog=f"{prog} novel-view")
        return
    from lift3d.train.prior import main as prior_main

    prior_main(argv, prog=prog)
