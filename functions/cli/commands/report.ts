import { writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { InputError } from '#core/model/errors.ts';
import { buildReport } from '#core/report/report.ts';
import { reportDeps, systemClock } from '#wiring';
import { type Cli, type CommonOptions, checkPolicy, PartialFailure } from '../command.ts';
import { isoTime, positiveInt } from '../options.ts';
import { reportHtml } from '../report-html.ts';
import { formatReport } from '../report-text.ts';

type ReportOptions = CommonOptions & {
  policy?: string;
  at?: string;
  window: number;
  html?: string;
  failOverRpo: boolean;
};

/** A report "as of" later than this after now would only show RPOs that have not happened. */
const FUTURE_SKEW_MS = 5 * 60_000;

/** `snapkeeper report`: RPO, DR RPO, RTO, schedule compliance and storage per target; unprotected resources. */
export function reportCommand(cli: Cli): void {
  cli
    .command('report')
    .option('-p, --policy <name>', 'only this policy')
    .option('--at <time>', 'report as of this time (ISO-8601), for replayed histories; default now', isoTime)
    .option('--window <days>', 'days of history the compliance columns and timelines cover', positiveInt, 7)
    .option('--html <file>', 'also write the report as one self-contained HTML page to this file')
    .option('--fail-over-rpo', 'exit 1 when any selected target is beyond its schedule interval', false)
    .action(
      cli.act<ReportOptions>(async (config, options, clients) => {
        checkPolicy(config, options.policy);
        const now = systemClock.now();
        if (options.at && Date.parse(options.at) - now.getTime() > FUTURE_SKEW_MS) {
          throw new InputError(
            `--at ${options.at} is after now (${now.toISOString()}); a report is as of a time that has happened: drop --at for now`,
          );
        }
        const report = await buildReport(reportDeps({ config, clients }), {
          at: options.at ?? now.toISOString(),
          windowDays: options.window,
          ...(options.policy ? { policy: options.policy } : {}),
        });
        let text = formatReport(report, cli.columns());
        if (options.html) {
          await writeHtml(options.html, reportHtml(report));
          text += `\n\nHTML report written to ${options.html}`;
        }
        if (options.failOverRpo && report.breaches.length > 0) throw new PartialFailure(report, text);
        return [report, text];
      }),
    );
}

async function writeHtml(file: string, page: string): Promise<void> {
  try {
    await writeFile(file, page);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'EISDIR' || code === 'EACCES' || code === 'ENOTDIR') {
      throw new InputError(
        `--html ${file}: cannot write there (${code}); give a file in a folder that exists and that you may write (${dirname(file)})`,
        { cause: error },
      );
    }
    throw error;
  }
}
