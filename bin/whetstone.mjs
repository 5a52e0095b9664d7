#!/usr/bin/env node
// The `whetstone` command: runs cli/main.ts through tsx (TypeScript without a build step).
import { register } from 'tsx/esm/api';
register();
await import('../cli/main.ts');
