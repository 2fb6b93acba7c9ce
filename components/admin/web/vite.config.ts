import { defineConfig } from "vite";
import preact from "@preact/preset-vite";

export default defineConfig({
  base: "/admin/",
  plugins: [preact()],
  build: {
    outDir: "dist/admin",
    emptyOutDir: true,
    assetsDir: "assets",
    sourcemap: false,
    target: "es2022",
    // hls.js (about 160 KB brotli) is a chunk of its own, loaded only when a
    // video plays; the first-load budget is checked by scripts/budget.mjs.
    chunkSizeWarningLimit: 1024,
  },
});
