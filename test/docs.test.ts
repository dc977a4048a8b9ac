import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, it } from 'node:test';

// The documentation travels with the code: whatever the README and docs/ point at must be in the
// repository, so a reader never meets a link to a file only the authors had.

const ROOT = process.cwd();
const DOCUMENTS = [
  'README.md',
  ...readdirSync(join(ROOT, 'docs'))
    .filter((name) => name.endsWith('.md'))
    .map((name) => `docs/${name}`),
];

const read = (path: string) => readFileSync(join(ROOT, path), 'utf8');

/** Markdown outside fenced code blocks, where links and names mean what they say. */
function prose(markdown: string): string {
  return markdown.replace(/^```[\s\S]*?^```/gm, '');
}

/** The anchors GitHub gives a document's headings. */
function anchors(markdown: string): Set<string> {
  const slugs = new Set<string>();
  for (const [, heading] of prose(markdown).matchAll(/^#{1,6} +(.+?) *$/gm)) {
    slugs.add(
      heading!
        .toLowerCase()
        .replace(/[^\p{L}\p{N}\- _]/gu, '')
        .replace(/ /g, '-'),
    );
  }
  return slugs;
}

function links(markdown: string): string[] {
  return [...prose(markdown).matchAll(/\]\(([^)\s]+)\)/g)].map((match) => match[1]!);
}

/** Paths of the repository named in code spans: `src/db/stock.ts`, `docs/api.md`, `bench/run.ts`. */
function namedPaths(markdown: string): string[] {
  const paths: string[] = [];
  for (const [, span] of prose(markdown).matchAll(/`([^`\n]+)`/g)) {
    const path = span!.replace(/[.,:;)]+$/, '');
    if (/^(src|test|bench|docs|bin|\.ci)\/[\w./-]+$/.test(path) && !path.includes('*')) paths.push(path);
  }
  return paths;
}

describe('the README and docs/', () => {
  it('open with the two commands a newcomer needs', () => {
    const firstBlock = /```sh\n([\s\S]*?)```/.exec(read('README.md'))?.[1] ?? '';
    assert.match(firstBlock, /^npm install && npm start\b/m);
    assert.match(firstBlock, /^npm install && npm test\b/m);
  });

  for (const document of DOCUMENTS) {
    it(`${document}: every relative link resolves to a file in the repository, and its anchor to a heading`, () => {
      const broken: string[] = [];
      for (const link of links(read(document))) {
        if (/^[a-z]+:/i.test(link)) continue; // https:, mailto: — outside the repository by intent
        const [path, anchor] = link.split('#') as [string, string | undefined];
        const target = path === '' ? resolve(ROOT, document) : resolve(ROOT, dirname(document), path);
        if (relative(ROOT, target).startsWith('..') || !existsSync(target)) {
          broken.push(`${link}: no such file in the repository`);
          continue;
        }
        if (anchor !== undefined && target.endsWith('.md') && !anchors(readFileSync(target, 'utf8')).has(anchor)) {
          broken.push(`${link}: no heading with that anchor`);
        }
      }
      assert.deepEqual(broken, []);
    });

    it(`${document}: every source path and every document it names exists`, () => {
      const text = read(document);
      // What a run makes and git ignores (bench/results/) is named, but not committed.
      const ignored = read('.gitignore')
        .split('\n')
        .filter((line) => line.endsWith('/'));
      const missing = namedPaths(text).filter((path) => !existsSync(join(ROOT, path)) && !ignored.some((dir) => path.startsWith(dir)));
      // A test file named on its own (`auth.test.ts`) is one of test/ or test/faults/.
      for (const [, name] of prose(text).matchAll(/`([\w-]+\.test\.ts)`/g)) {
        if (!existsSync(join(ROOT, 'test', name!)) && !existsSync(join(ROOT, 'test', 'faults', name!))) missing.push(name!);
      }
      // A document named in passing (API.md, DESIGN.md) must be one a reader of this repository has.
      const documents = new Set(DOCUMENTS.map((path) => path.split('/').at(-1)));
      for (const [name] of prose(text).matchAll(/\b[\w-]+\.md\b/g)) {
        if (!documents.has(name)) missing.push(name);
      }
      assert.deepEqual(missing, []);
    });
  }

  it('include the licence package.json names', () => {
    const { license } = JSON.parse(read('package.json')) as { license: string };
    assert.equal(license, 'MIT');
    assert.match(read('LICENSE'), /^MIT License\n/);
  });
});
