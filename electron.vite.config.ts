// Build for the three Electron targets. `npm run build` needs only the electron *package* (for its
// version), not the Electron binary, so it works where the binary could not be downloaded.
//
// main:     src/main/index.ts    -> out/main/index.js     (ESM; dependencies stay external), plus the workers
// preload:  src/preload/index.ts -> out/preload/index.cjs (CommonJS: sandboxed preloads cannot be ESM)
// renderer: src/renderer         -> out/renderer          (Vue 3 + pinia, bundled)
import { resolve } from 'node:path';
import vue from '@vitejs/plugin-vue';
import { defineConfig } from 'electron-vite';
import type { Plugin } from 'vite';

/**
 * In `npm run dev` Vite injects component CSS as inline <style> tags, which the strict CSP in
 * src/renderer/index.html forbids. Allow inline styles in the dev server only; builds keep the
 * strict policy (their CSS is an extracted file).
 */
function devInlineStyles(): Plugin {
  return {
    name: 'station:dev-inline-styles',
    apply: 'serve',
    transformIndexHtml: (html) => html.replace("style-src 'self'", "style-src 'self' 'unsafe-inline'"),
  };
}

export default defineConfig({
  main: {
    build: {
      // Dependencies are externalized by default (build.externalizeDeps), as electron-vite does.
      // The worker threads are entries of their own: the station starts them by file name next to index.js.
      lib: {
        entry: {
          index: resolve(import.meta.dirname, 'src/main/index.ts'),
          'scoring-worker': resolve(import.meta.dirname, 'src/main/station/scoring-worker.ts'),
          'training-worker': resolve(import.meta.dirname, 'src/main/station/training-worker.ts'),
          'evaluation-worker': resolve(import.meta.dirname, 'src/main/station/evaluation-worker.ts'),
          'update-worker': resolve(import.meta.dirname, 'src/main/station/update-worker.ts'),
        },
      },
    },
  },
  preload: {
    build: {
      // A sandboxed preload can require only 'electron': bundle everything else (zod for the method list).
      externalizeDeps: false,
      lib: { entry: resolve(import.meta.dirname, 'src/preload/index.ts') },
      rolldownOptions: {
        output: { format: 'cjs', entryFileNames: '[name].cjs' },
      },
    },
  },
  renderer: {
    root: resolve(import.meta.dirname, 'src/renderer'),
    build: {
      rolldownOptions: {
        input: resolve(import.meta.dirname, 'src/renderer/index.html'),
      },
    },
    plugins: [vue(), devInlineStyles()],
    // vue-i18n's build flags: Composition API only (the legacy API is dropped from the bundle), no devtools
    // in production. Its message compiler runs without eval (JIT to an AST), so the strict CSP holds.
    define: {
      __VUE_I18N_FULL_INSTALL__: true,
      __VUE_I18N_LEGACY_API__: false,
      __INTLIFY_PROD_DEVTOOLS__: false,
    },
  },
});
