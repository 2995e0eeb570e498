/// <reference types="vitest/config" />
import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

// Tauri loads ui/dist in packages and e2e builds (tauri.conf.json
// build.frontendDist) and this dev server during `tauri dev` (build.devUrl).
export default defineConfig(({ mode }) => ({
  plugins: [react()],
  // Relative asset URLs: the bundle is served from tauri://localhost/.
  base: './',
  clearScreen: false,
  server: {
    port: 5173,
    strictPort: true,
    host: 'localhost',
    // Tests only: the IPC command-list test (src/backend/commands.test.ts)
    // reads src-tauri/ and capabilities/ beside this folder. The dev server
    // keeps Vite's default (this folder only).
    ...(mode === 'test' ? { fs: { allow: ['..'] } } : {}),
  },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    // WebKitGTK 2.40+ (Debian 12, Ubuntu 22.04+) handles ES2021 fine.
    target: 'es2021',
    // No inline scripts or data: URLs: the CSP allows neither.
    assetsInlineLimit: 0,
    sourcemap: false,
  },
  test: {
    environment: 'jsdom',
    setupFiles: ['./src/test/setup.ts'],
    include: ['src/**/*.test.{ts,tsx}'],
    restoreMocks: true,
    // The stylesheet as text for the contrast test (src/contrast.test.ts).
    css: { include: [/styles\.css/] },
  },
}));
