// The viewer inlined into each run's index.html (built by `npm run build` into lift3d/viewer/web/static_bundle.js).
// Reads the page's <script id="lift3d-data" type="application/json">: {title, glb (base64), splats:
// {count, positions (base64 float32 xyz, +Y up), colors (base64 uint8 rgba), radii (base64 float32)}}.
// Shows the GLB with three.js's glTF loader and the splats as depth-sorted Gaussian sprites; orbit with the mouse.
import {
  Color, DirectionalLight, HemisphereLight, PerspectiveCamera, Scene, Vector3, WebGLRenderer, Box3, Sphere,
  BufferGeometry, BufferAttribute, Points, ShaderMaterial,
} from "three";
import { OrbitControls } from "three/examples/jsm/controls/OrbitControls.js";
import { GLTFLoader } from "three/examples/jsm/loaders/GLTFLoader.js";

const FOV = 40;

function bytes(base64) {
  const bin = atob(base64);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

const SPLAT_VERTEX = `
attribute vec4 rgba;
attribute float radius;
uniform float focal;
varying vec4 vColor;
void main() {
  vec4 mv = modelViewMatrix * vec4(position, 1.0);
  gl_Position = projectionMatrix * mv;
  gl_PointSize = clamp(2.0 * 3.0 * radius * focal / max(-mv.z, 1e-3), 1.0, 128.0);
  vColor = rgba;
}`;
const SPLAT_FRAGMENT = `
varying vec4 vColor;
void main() {
  vec2 d = gl_PointCoord * 2.0 - 1.0;
  float r2 = dot(d, d);
  if (r2 > 1.0) discard;
  float a = vColor.a * exp(-4.5 * r2);
  if (a < 1.0 / 255.0) discard;
  gl_FragColor = vec4(vColor.rgb, a);
}`;

function splatPoints(s) {
  const positions = new Float32Array(bytes(s.positions).buffer);
  const geometry = new BufferGeometry();
  geometry.setAttribute("position", new BufferAttribute(positions, 3));
  geometry.setAttribute("rgba", new BufferAttribute(bytes(s.colors), 4, true));
  geometry.setAttribute("radius", new BufferAttribute(new Float32Array(bytes(s.radii).buffer), 1));
  geometry.setIndex(new BufferAttribute(new Uint32Array(s.count).map((_, i) => i), 1));
  geometry.computeBoundingSphere();
  const material = new ShaderMaterial({
    uniforms: { focal: { value: 1.0 } }, vertexShader: SPLAT_VERTEX, fragmentShader: SPLAT_FRAGMENT,
    transparent: true, depthWrite: false,
  });
  const points = new Points(geometry, material);
  points.userData.positions = positions;
  points.userData.depth = new Float32Array(s.count);
  return points;
}

// Back-to-front order along the view direction, so alpha blending composites like the splat rasterizer.
function sortSplats(points, camera) {
  const p = points.userData.positions, depth = points.userData.depth;
  const dir = new Vector3();
  camera.getWorldDirection(dir);
  for (let i = 0; i < depth.length; i++) depth[i] = p[3 * i] * dir.x + p[3 * i + 1] * dir.y + p[3 * i + 2] * dir.z;
  const index = points.geometry.index;
  index.array.sort((a, b) => depth[b] - depth[a]);
  index.needsUpdate = true;
}

function main() {
  const data = JSON.parse(document.getElementById("lift3d-data").textContent);
  const canvas = document.getElementById("view");
  const renderer = new WebGLRenderer({ canvas, antialias: true, preserveDrawingBuffer: true });
  renderer.setPixelRatio(1);
  renderer.setSize(canvas.clientWidth, canvas.clientHeight, false);
  const scene = new Scene();
  scene.background = new Color(0xffffff);
  scene.add(new HemisphereLight(0xffffff, 0x777777, 2.2));
  const sun = new DirectionalLight(0xffffff, 1.2);
  sun.position.set(1, 2, 1.5);
  scene.add(sun);
  const camera = new PerspectiveCamera(FOV, canvas.clientWidth / canvas.clientHeight, 0.01, 100);
  const controls = new OrbitControls(camera, canvas);
  const models = {};
  let shown = null;

  function draw() {
    if (shown === "splats") {
      const size = renderer.getDrawingBufferSize(new Vector3());
      models.splats.material.uniforms.focal.value = 0.5 * size.y / Math.tan((FOV * Math.PI) / 360);
      sortSplats(models.splats, camera);
    }
    renderer.render(scene, camera);
    canvas.dataset.frames = String(Number(canvas.dataset.frames || 0) + 1);
  }

  function frame(object) {
    const sphere = object.isPoints ? object.geometry.boundingSphere.clone() : new Box3().setFromObject(object).getBoundingSphere(new Sphere());
    const d = (1.15 * Math.max(sphere.radius, 1e-3)) / Math.sin((FOV * Math.PI) / 360);
    const az = (30 * Math.PI) / 180, el = (20 * Math.PI) / 180;  // lift3d's default view, in +Y-up axes
    camera.position.copy(sphere.center).add(new Vector3(Math.cos(el) * Math.cos(az), Math.sin(el), -Math.cos(el) * Math.sin(az)).multiplyScalar(d));
    camera.near = d / 100;
    camera.far = d * 10;
    camera.updateProjectionMatrix();
    controls.target.copy(sphere.center);
    controls.update();
  }

  function show(name) {
    for (const [key, object] of Object.entries(models)) object.visible = key === name;
    shown = name;
    for (const button of document.querySelectorAll("[data-show]")) button.disabled = button.dataset.show === name;
    frame(models[name]);
    draw();
  }

  controls.addEventListener("change", draw);
  const ready = [];
  if (data.splats) {
    models.splats = splatPoints(data.splats);
    scene.add(models.splats);
  }
  if (data.glb) {
    const buffer = bytes(data.glb).buffer;
    ready.push(new Promise((resolve, reject) => new GLTFLoader().parse(buffer, "", (gltf) => {
      models.mesh = gltf.scene;
      scene.add(gltf.scene);
      resolve();
    }, reject)));
  }
  Promise.all(ready).then(() => {
    for (const button of document.querySelectorAll("[data-show]")) {
      button.hidden = !(button.dataset.show in models);
      button.onclick = () => show(button.dataset.show);
    }
    const first = data.initial in models ? data.initial : Object.keys(models)[0];
    if (first) show(first);
    document.body.dataset.ready = "1";
  }).catch((error) => {
    document.body.dataset.error = String(error);
    document.getElementById("error").textContent = "cannot show this asset: " + error;
  });
}

main();
