import { defineConfig } from 'vite'
import { VitePWA } from 'vite-plugin-pwa'
import solid from 'vite-plugin-solid'

// The Ticks server the dev server forwards to (`npm start` or `ticks-server` runs it on 8080).
const serverUrl = process.env.TICKS_SERVER_URL ?? 'http://127.0.0.1:8080'

export default defineConfig({
  plugins: [
    solid(),
    VitePWA({
      // The app shell (HTML, JS, CSS, icon) is precached so a reload while offline still boots the app;
      // the data itself lives in IndexedDB (y-indexeddb through @ticks/client), never in this cache.
      registerType: 'autoUpdate',
      injectRegister: false,
      manifest: {
        name: 'Ticks',
        short_name: 'Ticks',
        description: 'Local-first chat: messages are sent when you reconnect.',
        theme_color: '#0f766e',
        background_color: '#f4f6f8',
        display: 'standalone',
        icons: [{ src: 'icon.svg', sizes: 'any', type: 'image/svg+xml', purpose: 'any' }],
      },
      workbox: {
        globPatterns: ['**/*.{js,css,html,svg,webmanifest}'],
        // Client-side routes (/c/<id>, /admin) get the shell; the API and the sync socket never do.
        navigateFallback: '/index.html',
        navigateFallbackDenylist: [/^\/api\//, /^\/sync\//, /^\/(healthz|readyz|metrics)$/],
        cleanupOutdatedCaches: true,
        clientsClaim: true,
        skipWaiting: true,
        // The 'development' mode skips terser over the generated worker: a much faster build for a
        // file of a few kilobytes.
        mode: 'development',
      },
    }),
  ],
  resolve: { conditions: ['source'] },
  server: {
    proxy: {
      '/api': serverUrl,
      '/sync': { target: serverUrl, ws: true },
    },
  },
  build: { target: 'es2022', sourcemap: false },
})
