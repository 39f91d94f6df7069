import { basename } from 'node:path';
import { parseArgs } from 'node:util';
import { runCli } from './cli.ts';
import { assertModelName, conversionBackend, exportRun } from './export.ts';
import { runTraining } from './run.ts';

/**
 * `npm run train:export -- [train flags] --name <name> [--models-dir models] [--generator final|best]`: trains, then exports.
 * `npm run export -- <run folder> [--name <name>] [--models-dir models] [--generator final|best]`: exports a finished run.
 */
async function main(mode: string | undefined, argv: string[]): Promise<void> {
  // Our own flags are taken out; everything else belongs to training and is checked there.
  const own: Record<string, string> = {};
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const m = /^--(name|models-dir|generator)(?:=(.*))?$/.exec(arg);
    if (!m) {
      rest.push(arg);
      continue;
    }
    const value = m[2] ?? argv[++i];
    if (value === undefined || value.startsWith('--')) throw new Error(`Expected a value for --${m[1]} but received nothing`);
    own[m[1]!] = value;
  }
  const modelsDir = own['models-dir'] ?? 'models';
  const generator = own.generator ?? 'final';
  if (generator !== 'final' && generator !== 'best') throw new Error(`Expected one of final, best for --generator but received '${generator}'`);
  if (mode === 'train') {
    if (rest.includes('--help')) {
      console.log('Usage: npm run train:export -- [train flags] --name <name> [--models-dir models] [--generator final|best]\n');
      await runTraining(['--help']);
      return;
    }
    if (!own.name) throw new Error('Expected --name <name> for npm run train:export (the model file name under models/)');
    assertModelName(own.name);
    const outcome = await runTraining(rest);
    if (!outcome) return;
    if (outcome.result.stopped) throw new Error(`training was stopped; resume with npm run train -- --resume ${outcome.runDir}, then npm run export -- ${outcome.runDir} --name ${own.name}`);
    await conversionBackend();
    const command = `npm run train:export -- ${argv.join(' ')}`;
    const manifest = await exportRun({ runDir: outcome.runDir, name: own.name, modelsDir, command, generator });
    console.log(`exported ${modelsDir}/${manifest.name}.onnx (sha256 ${manifest.sha256.slice(0, 12)}...) and ${modelsDir}/${manifest.name}.json`);
    return;
  }
  const { positionals } = parseArgs({ args: rest, strict: true, allowPositionals: true, options: {} });
  if (positionals.length !== 1) throw new Error(`Expected one run folder for npm run export but received ${positionals.length}`);
  const runDir = positionals[0]!;
  const name = own.name ?? basename(runDir).toLowerCase().replace(/[^a-z0-9_-]/g, '-');
  await conversionBackend();
  const manifest = await exportRun({ runDir, name, modelsDir, command: `npm run export -- ${argv.join(' ')}`, generator });
  console.log(`exported ${modelsDir}/${manifest.name}.onnx (sha256 ${manifest.sha256.slice(0, 12)}...) and ${modelsDir}/${manifest.name}.json`);
}

runCli(() => main(process.argv[2], process.argv.slice(3)));
