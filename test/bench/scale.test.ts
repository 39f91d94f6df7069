import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';
import { NGINX_TEMPLATE, nginxConfig } from '../../bench/scale.ts';

// deploy/nginx.conf is both the README's recommended configuration and what `bench scale` runs.

test('deploy/nginx.conf is filled in by bench scale: one upstream server per replica, its own folder and port', async () => {
  const template = await readFile(NGINX_TEMPLATE, 'utf8');
  const config = nginxConfig(template, '/tmp/nginx-x', 18100, [18101, 18102]);
  const lines = config.split('\n').filter((l) => !/^\s*#/.test(l));
  assert.deepEqual(
    lines.filter((l) => /^\s*server 127/.test(l)).map((l) => l.trim()),
    ['server 127.0.0.1:18101 max_fails=1 fail_timeout=5s;', 'server 127.0.0.1:18102 max_fails=1 fail_timeout=5s;'],
  );
  assert.ok(lines.includes('    listen 127.0.0.1:18100;'));
  assert.ok(lines.includes('pid /tmp/nginx-x/nginx.pid;'));
  assert.ok(!lines.some((l) => l.includes('{{')), 'every placeholder outside comments is filled');
  assert.match(config, /proxy_next_upstream error timeout http_502 http_503 http_504;/);
  assert.throws(() => nginxConfig(`${template}\nworker_rlimit_nofile {{files}};\n`, '/tmp/x', 1, [2]), /unknown placeholder \{\{files\}\}/);
});
