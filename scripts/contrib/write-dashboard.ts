/**
 * Writes `contrib/grafana/firecracker-fleet.json` from `dashboard.ts`:
 * `npm run build:test && node build/scripts/contrib/write-dashboard.js`.
 */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { DASHBOARD_FILE, dashboardText } from './dashboard.js';

// Compiled to build/scripts/contrib/: the repository's root is three levels up.
const file = fileURLToPath(new URL(`../../../${DASHBOARD_FILE}`, import.meta.url));
writeFileSync(file, dashboardText());
process.stdout.write(`wrote ${DASHBOARD_FILE}\n`);
