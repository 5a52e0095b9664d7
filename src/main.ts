// Entry point: mounts the app and registers the service worker (precache for offline use; a new version
// waits until the user accepts it, and never while a run is in progress).
import { mount } from 'svelte';
import { registerSW } from 'virtual:pwa-register';
import App from './App.svelte';
import { AppState } from './ui/app.svelte';
import './ui/app.css';

const app = new AppState();
mount(App, { target: document.getElementById('app')!, props: { app } });
void app.start();

if ('serviceWorker' in navigator) {
  const update = registerSW({
    immediate: true,
    onNeedRefresh: () => app.onUpdateReady(update),
    onOfflineReady: () => (app.offlineReady = true),
  });
}

// For the end-to-end tests and the curious: the state, read-only by convention.
(globalThis as { whetstone?: AppState }).whetstone = app;
