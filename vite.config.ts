// The app's build: Svelte 5, workers as ES modules, and the PWA (manifest, icons, a service worker that
// precaches the app and the embedded default model so it opens offline; a new version waits for the user).
import fs from 'node:fs';
import path from 'node:path';
import { defineConfig } from 'vite';
import { svelte } from '@sveltejs/vite-plugin-svelte';
import { VitePWA } from 'vite-plugin-pwa';

const root = path.dirname(new URL(import.meta.url).pathname);

const MODEL_FILE = /^(config\.json|generation_config\.json|tokenizer\.json|tokenizer_config\.json|special_tokens_map\.json|chat_template\.(jinja|json)|model\.safetensors\.index\.json|model(-\d{5}-of-\d{5})?\.safetensors)$/;

/** The embedded default model's files (public/models/default), listed at build time; [] when it is not there. */
function defaultModelFiles(): { name: string; size: number }[] {
  const dir = path.join(root, 'public', 'models', 'default');
  if (!fs.existsSync(path.join(dir, 'config.json'))) return [];
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isFile() && MODEL_FILE.test(e.name))
    .map((e) => ({ name: e.name, size: fs.statSync(path.join(dir, e.name)).size }));
}

export default defineConfig({
  base: './',
  plugins: [
    svelte(),
    VitePWA({
      registerType: 'prompt',
      // Registered from src/main.ts (no inline script: the CSP allows only 'self' scripts).
      injectRegister: false,
      includeAssets: ['icons/favicon-32.png', 'icons/apple-touch-icon.png'],
      manifest: {
        name: 'Whetstone — fine-tune language models in your browser',
        short_name: 'Whetstone',
        description: 'Fine-tune Hugging Face language models on your own data, on your own machine, with WebGPU.',
        theme_color: '#1f2a37',
        background_color: '#1f2a37',
        display: 'standalone',
        start_url: './',
        scope: './',
        icons: [
          { src: 'icons/icon-192.png', sizes: '192x192', type: 'image/png' },
          { src: 'icons/icon-512.png', sizes: '512x512', type: 'image/png' },
          { src: 'icons/maskable-512.png', sizes: '512x512', type: 'image/png', purpose: 'maskable' },
        ],
      },
      workbox: {
        // The app, its workers, the embedded default model and demo data (globs that match nothing are fine).
        globPatterns: ['**/*.{js,css,html,png,svg,webmanifest}', 'models/default/**/*', 'data/**/*'],
        maximumFileSizeToCacheInBytes: 40 * 1024 * 1024,
        cleanupOutdatedCaches: true,
        navigateFallback: 'index.html',
        // Hub downloads go straight to the network (and into IndexedDB), never into the SW cache.
        runtimeCaching: [],
      },
    }),
  ],
  define: {
    __WHETSTONE_DEFAULT_MODEL__: JSON.stringify(defaultModelFiles()),
  },
  worker: { format: 'es' },
  build: {
    target: 'es2022',
    chunkSizeWarningLimit: 4096,
  },
  preview: { host: '127.0.0.1', port: 4173, strictPort: true },
});
