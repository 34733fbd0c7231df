// The live-update contract: once the new bundle has started correctly, tell
// the updater so it does not roll back to the previous bundle.
const status = document.getElementById('status');

async function ready() {
  const cap = window.Capacitor;
  const updater = cap && cap.Plugins && cap.Plugins.CapacitorUpdater;
  if (!updater) {
    status.textContent = 'Running in a browser: no updater plugin.';
    return;
  }
  await updater.notifyAppReady();
  const current = await updater.current();
  document.getElementById('version').textContent = current.bundle.version;
  status.textContent = 'Ready. Updates come from the capstatic resolver.';
}

ready().catch((err) => { status.textContent = 'notifyAppReady failed: ' + err; });
