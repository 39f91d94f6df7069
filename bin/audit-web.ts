import { runCommand } from '../lib/cli/command.ts';
import { auditWebCommand } from '../web-demo/audit.ts';

await runCommand(auditWebCommand, process.argv.slice(2));
