// @ts-check
// Lint: ESLint's and typescript-eslint's recommended rules, type-aware, over the TypeScript project
// of tsconfig.json (src, test, bench) and the plain JavaScript beside it. Formatting is Prettier's
// (.prettierrc), so no rule here is about layout. `npm run lint` runs both and allows no warning;
// `npm run format` rewrites what they can fix. Each rule turned off or configured says why.
import js from '@eslint/js';
import { defineConfig } from 'eslint/config';
import tseslint from 'typescript-eslint';

export default defineConfig(
  { ignores: ['node_modules/', '.cache/', 'dist/', 'web/', 'data/', 'bench/results/'] },
  js.configs.recommended,
  tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    rules: {
      // The two that matter most for async code: a promise nobody awaits loses its rejection, and
      // an async function where a void callback is expected runs unawaited. node:test's describe
      // and it return promises that the runner itself awaits.
      '@typescript-eslint/no-floating-promises': [
        'error',
        { allowForKnownSafeCalls: [{ from: 'package', package: 'node:test', name: ['describe', 'it', 'test', 'suite'] }] },
      ],
      '@typescript-eslint/no-misused-promises': 'error',
      // Fastify plugins, route modules and hooks are `async` without awaiting anything on purpose:
      // an async plugin or hook is Fastify's way of saying "done" without a callback.
      '@typescript-eslint/require-await': 'off',
      // tsconfig.json has no noUncheckedIndexedAccess, so `rows[0]!` looks unnecessary to the rule;
      // the code writes it on purpose, to say "a row is there". Turn this back on with that option.
      '@typescript-eslint/no-unnecessary-type-assertion': 'off',
      // A caught `unknown` (or an AbortSignal's reason) is passed on as it came: wrapping it would
      // change what callers see.
      '@typescript-eslint/only-throw-error': ['error', { allowThrowingUnknown: true, allowThrowingAny: true }],
      '@typescript-eslint/prefer-promise-reject-errors': ['error', { allowThrowingUnknown: true, allowThrowingAny: true }],
      // `_name` marks a value unused on purpose; `{ dropped: _, ...rest }` is how a member is left out.
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrorsIgnorePattern: '^_', ignoreRestSiblings: true },
      ],
      // A `let` declared first so that a closure made before the assignment can read it later.
      'prefer-const': ['error', { ignoreReadBeforeAssign: true }],
      // The text guards refuse control characters (NUL) by regular expression, on purpose.
      'no-control-regex': 'off',
    },
  },
  {
    // Tests and benchmarks read JSON answers (`response.body`, `JSON.parse`) as `any` by design: the
    // assertions are the check. The no-unsafe-* rules would flag every `body.items[0].id`.
    files: ['test/**', 'bench/**'],
    rules: {
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      '@typescript-eslint/restrict-template-expressions': 'off',
      // `try { … } catch {}`: a test that only needs the attempt, not its outcome.
      'no-empty': ['error', { allowEmptyCatch: true }],
    },
  },
  {
    // Plain JavaScript (this file, bin/stockroom.mjs) is outside tsconfig.json: lint it without types.
    files: ['**/*.js', '**/*.mjs'],
    extends: [tseslint.configs.disableTypeChecked],
  },
);
