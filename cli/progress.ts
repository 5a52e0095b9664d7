// Progress on stderr: a redrawn bar with loss, tokens/s and ETA on a terminal; one line per step otherwise.
import type { TrainEvent } from '../src/core/train/trainer';
import { releaseNotes } from './runtime';

function clock(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${sec}` : `${m}:${sec}`;
}

export function progressPrinter(label = ''): (e: TrainEvent) => void {
  const tty = process.stderr.isTTY === true;
  let open = false;
  const line = (text: string) => {
    if (tty) {
      process.stderr.write(`\r\x1b[2K${text}`);
      open = true;
    } else process.stderr.write(`${text}\n`);
  };
  const message = (text: string) => {
    if (open) process.stderr.write('\n');
    open = false;
    process.stderr.write(`${text}\n`);
  };
  return (e) => {
    releaseNotes(); // the run has begun: what was noted before it (backend, data, split) is shown first
    switch (e.type) {
      case 'step': {
        const width = 24;
        const filled = Math.round((width * e.step) / e.totalSteps);
        const bar = `${'█'.repeat(filled)}${'░'.repeat(width - filled)}`;
        line(
          `${label}${bar} ${e.step}/${e.totalSteps} loss ${e.loss.toFixed(4)} lr ${e.lr.toExponential(2)} |g| ${e.gradNorm.toFixed(3)} acc ${e.tokenAccuracy.toFixed(3)} ${Math.round(e.tokensPerSecond)} tok/s ETA ${clock(e.etaMs)}`,
        );
        break;
      }
      case 'eval':
        message(`${label}eval @${e.step}: val_loss ${e.valLoss.toFixed(4)} acc ${e.valAccuracy.toFixed(3)}${e.best ? ' (best)' : ''}`);
        break;
      case 'skip':
        message(`${label}step ${e.step} skipped: ${e.reason} (${e.streak} in a row)`);
        break;
      case 'rollback':
        message(`${label}rolled back from step ${e.step} to the checkpoint at step ${e.toStep}; learning rate ×${e.lrScale}`);
        break;
      case 'early-stop':
        message(`${label}early stop at step ${e.step}: best val_loss ${e.bestValLoss.toFixed(4)} at step ${e.bestStep} restored`);
        break;
      case 'checkpoint':
        break;
    }
  };
}
