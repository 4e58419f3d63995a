#!/usr/bin/env node
// Compiles every .sol file under contracts/src with the pinned solc-js (standard JSON) and
// writes one artifact per contract, interface and library to contracts/out/<Name>.json:
//   {"contractName", "abi", "bytecode": "0x...", "deployedBytecode": "0x..."}
//
// Usage:
//   node build.js              build into contracts/out
//   node build.js --out DIR    build into DIR
//   node build.js --check      build into a temp dir and fail (exit 1) if contracts/out differs
'use strict';

const fs = require('fs');
const os = require('os');
const path = require('path');

const ROOT = __dirname;
const SRC = path.join(ROOT, 'src');
const OUT = path.join(ROOT, 'out');

function die(msg) {
  process.stderr.write(`build.js: ${msg}\n`);
  process.exit(1);
}

function loadSolc() {
  let solc;
  try {
    solc = require('solc');
  } catch (e) {
    die(`cannot load the solc package (${e.message}); run "npm ci" in contracts/ (build.sh does)`);
  }
  const pinned = require(path.join(ROOT, 'package.json')).devDependencies.solc;
  const actual = solc.version();
  if (!actual.startsWith(`${pinned}+`)) {
    die(`solc ${actual} is installed but package.json pins ${pinned}; run "npm ci"`);
  }
  return solc;
}

// Source files, as "src/..." unit names with forward slashes, sorted for a stable input.
function listSources(dir, rel = 'src') {
  let files = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const abs = path.join(dir, entry.name);
    const unit = `${rel}/${entry.name}`;
    if (entry.isDirectory()) files = files.concat(listSources(abs, unit));
    else if (entry.isFile() && entry.name.endsWith('.sol')) files.push(unit);
  }
  return files.sort();
}

function compile(solc) {
  const units = listSources(SRC);
  if (units.length === 0) die(`no .sol files under ${SRC}`);
  const sources = {};
  for (const unit of units) {
    sources[unit] = { content: fs.readFileSync(path.join(ROOT, unit), 'utf8') };
  }
  const input = {
    language: 'Solidity',
    sources,
    settings: {
      optimizer: { enabled: true, runs: 200 },
      evmVersion: 'cancun',
      metadata: { bytecodeHash: 'none' },
      outputSelection: {
        '*': { '*': ['abi', 'evm.bytecode.object', 'evm.deployedBytecode.object'] },
      },
    },
  };
  // Every import must resolve to a file under src/: no callback, so anything else is an error.
  const output = JSON.parse(solc.compile(JSON.stringify(input)));

  const diagnostics = output.errors || [];
  const errors = diagnostics.filter((d) => d.severity === 'error');
  const others = diagnostics.filter((d) => d.severity !== 'error');
  for (const d of others) process.stderr.write(`${d.formattedMessage || d.message}\n`);
  if (errors.length > 0) {
    for (const d of errors) process.stderr.write(`${d.formattedMessage || d.message}\n`);
    die(`compilation failed with ${errors.length} error(s)`);
  }
  return { output, warnings: others.length };
}

function artifacts(output) {
  const result = new Map();
  const owner = new Map();
  for (const unit of Object.keys(output.contracts || {}).sort()) {
    for (const name of Object.keys(output.contracts[unit]).sort()) {
      if (result.has(name)) {
        die(`two contracts named ${name} (${owner.get(name)} and ${unit}): names must be unique`);
      }
      const c = output.contracts[unit][name];
      const artifact = {
        contractName: name,
        abi: c.abi,
        bytecode: `0x${c.evm.bytecode.object}`,
        deployedBytecode: `0x${c.evm.deployedBytecode.object}`,
      };
      owner.set(name, unit);
      result.set(`${name}.json`, `${JSON.stringify(artifact, null, 2)}\n`);
    }
  }
  return result;
}

function writeAll(dir, files) {
  fs.mkdirSync(dir, { recursive: true });
  for (const old of fs.readdirSync(dir)) {
    if (old.endsWith('.json') && !files.has(old)) fs.rmSync(path.join(dir, old));
  }
  for (const [name, text] of files) fs.writeFileSync(path.join(dir, name), text);
}

function check(files) {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'prova-contracts-'));
  try {
    writeAll(tmp, files);
    const stale = [];
    for (const [name, text] of files) {
      const p = path.join(OUT, name);
      if (!fs.existsSync(p)) stale.push(`missing:  out/${name}`);
      else if (fs.readFileSync(p, 'utf8') !== text) stale.push(`stale:    out/${name}`);
    }
    if (fs.existsSync(OUT)) {
      for (const name of fs.readdirSync(OUT).sort()) {
        if (!files.has(name)) stale.push(`extra:    out/${name}`);
      }
    }
    if (stale.length > 0) {
      process.stderr.write(`contracts/out is not up to date with contracts/src:\n`);
      for (const s of stale) process.stderr.write(`  ${s}\n`);
      process.stderr.write(`run contracts/build.sh and commit contracts/out\n`);
      process.exit(1);
    }
    process.stdout.write(`contracts/out is up to date (${files.size} artifacts)\n`);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

function main() {
  const args = process.argv.slice(2);
  let mode = 'build';
  let outDir = OUT;
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--check') mode = 'check';
    else if (args[i] === '--out' && i + 1 < args.length) outDir = path.resolve(args[++i]);
    else die(`unknown argument ${args[i]} (usage: build.js [--check | --out DIR])`);
  }
  const solc = loadSolc();
  const { output, warnings } = compile(solc);
  const files = artifacts(output);
  if (mode === 'check') {
    check(files);
  } else {
    writeAll(outDir, files);
    process.stdout.write(
      `solc ${solc.version()}: wrote ${files.size} artifacts to ${path.relative(process.cwd(), outDir) || '.'}` +
        (warnings ? ` (${warnings} warning(s) above)` : '') +
        '\n',
    );
  }
}

main();
