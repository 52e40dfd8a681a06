// The bench draws its own chart (SVG, no dependency): per scenario, CPU per create and
// throughput, side by side, from one run's rows.
export interface ChartBar {
  label: string;
  cpuMs: number;
  throughput: number;
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

function panel(
  bars: ChartBar[],
  x0: number,
  width: number,
  title: string,
  value: (b: ChartBar) => number,
  fmt: (v: number) => string,
  colour: string,
): string {
  const max = Math.max(...bars.map(value), 1e-9);
  const out = [`<text x="${x0}" y="20" font-weight="bold">${esc(title)}</text>`];
  bars.forEach((b, i) => {
    const y = 34 + i * 28;
    const w = Math.max(1, (value(b) / max) * (width - 60));
    out.push(`<rect x="${x0}" y="${y}" width="${w.toFixed(1)}" height="20" fill="${colour}"/>`);
    out.push(`<text x="${(x0 + w + 4).toFixed(1)}" y="${y + 15}">${esc(fmt(value(b)))}</text>`);
  });
  return out.join('\n');
}

export function renderChart(bars: ChartBar[], caption: string): string {
  const labelWidth = 210;
  const panelWidth = 300;
  const height = 34 + bars.length * 28 + 30;
  const width = labelWidth + 2 * panelWidth + 40;
  const labels = bars
    .map((b, i) => `<text x="${labelWidth - 8}" y="${34 + i * 28 + 15}" text-anchor="end">${esc(b.label)}</text>`)
    .join('\n');
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    labels,
    panel(
      bars,
      labelWidth,
      panelWidth,
      'CPU ms per create (all processes)',
      (b) => b.cpuMs,
      (v) => v.toFixed(2),
      '#d9822b',
    ),
    panel(
      bars,
      labelWidth + panelWidth + 20,
      panelWidth,
      'creates/s',
      (b) => b.throughput,
      (v) => v.toFixed(0),
      '#2b7bd9',
    ),
    `<text x="8" y="${height - 10}" fill="#555">${esc(caption)}</text>`,
    '</svg>',
    '',
  ].join('\n');
}
