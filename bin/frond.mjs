#!/usr/bin/env node
// The `frond` command. TypeScript sources run through tsx's loader (Node 20 cannot strip types).
import { register } from 'tsx/esm/api';
register();
await import('../src/cli/main.ts');
