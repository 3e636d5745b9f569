const COLORS: Record<string, string> = {
  succeeded: '#2ea44f',
  failed: '#cb2431',
  errored: '#8250df',
  cancelled: '#9a6700',
  running: '#0969da',
  queued: '#6e7781',
  unknown: '#6e7781',
};

/** Approximate width of Verdana 11px text, as shields-style badges size it. */
function textWidth(text: string): number {
  return Math.round(text.length * 6.5 + 10);
}

function escapeXml(text: string): string {
  return text.replace(/[<>&"']/g, (ch) => `&#${ch.charCodeAt(0)};`);
}

/** A flat status badge `label | status` as SVG. */
export function renderBadge(label: string, status: string): string {
  const left = textWidth(label);
  const right = textWidth(status);
  const width = left + right;
  const color = COLORS[status] ?? COLORS.unknown!;
  const [l, s] = [escapeXml(label), escapeXml(status)];
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="20" role="img" aria-label="${l}: ${s}">
<title>${l}: ${s}</title>
<rect width="${left}" height="20" fill="#555"/>
<rect x="${left}" width="${right}" height="20" fill="${color}"/>
<g fill="#fff" text-anchor="middle" font-family="Verdana,Geneva,sans-serif" font-size="11">
<text x="${left / 2}" y="14">${l}</text>
<text x="${left + right / 2}" y="14">${s}</text>
</g>
</svg>
`;
}
