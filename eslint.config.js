// ESLint flat config for Frond. Run with `npx eslint .` (also part of `npm run lint`).
import { defineConfig } from 'eslint/config';
import tseslint from 'typescript-eslint';
import layering from './src/tools/lint/layering.js';

/** The local plugin: Frond's own rules. */
const frond = {
  meta: { name: 'frond' },
  rules: { layering },
};

export default defineConfig([
  {
    name: 'frond/ignores',
    ignores: ['**/node_modules/', 'build/', 'bench/results/', 'src/idl/generated/**', 'keys/', 'tmp/', 'scratch/', '.stryker-tmp/', 'reports/',
      // Hostile domains for the build check's tests: invalid on purpose.
      'test/fixtures/build/', 'test/adversarial/refused/'],
  },

  {
    name: 'frond/javascript',
    files: ['**/*.js', '**/*.mjs'],
    languageOptions: { ecmaVersion: 'latest', sourceType: 'module' },
  },

  {
    name: 'frond/typescript',
    files: ['**/*.ts'],
    extends: [tseslint.configs.recommended],
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', {
        argsIgnorePattern: '^_',
        varsIgnorePattern: '^_',
        caughtErrorsIgnorePattern: '^_',
        destructuredArrayIgnorePattern: '^_',
      }],
      '@typescript-eslint/no-explicit-any': 'error',
    },
  },

  {
    // `any` marks trust boundaries in the kernel; tools, tests and benchmarks are host-side glue.
    name: 'frond/any-allowed',
    files: ['src/kernel/**/*.ts', 'src/tools/**/*.ts', 'test/**/*.ts', 'bench/**/*.ts'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },

  {
    name: 'frond/layering',
    files: ['src/**/*.ts'],
    // Co-located tests (src/**/*.test.ts, run by scripts/test.mjs) need node:test and node:assert.
    ignores: ['src/**/*.test.ts'],
    plugins: { frond },
    rules: { 'frond/layering': 'error' },
  },
]);
