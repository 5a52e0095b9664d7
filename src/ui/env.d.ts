/// <reference types="svelte" />
/// <reference types="vite/client" />
/// <reference types="vite-plugin-pwa/client" />

/** The embedded default model's files, listed by vite.config.ts at build time. */
declare const __WHETSTONE_DEFAULT_MODEL__: { name: string; size: number }[];
