// RFC 6902 JSON Patch: the operations leaseguard writes, and applying them (the in-process
// store applies patches the way the API server does).

export interface JsonPatchOp {
  op: 'add' | 'replace' | 'test';
  path: string;
  value: unknown;
}

/** RFC 6901: `~` and `/` are escaped in a JSON Pointer segment. */
export function pointerSegment(s: string): string {
  return s.replace(/~/g, '~0').replace(/\//g, '~1');
}

function segments(path: string): string[] {
  if (!path.startsWith('/')) throw new Error(`JSON pointer "${path}" must start with "/"`);
  return path
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

export type PatchOutcome = { ok: true; doc: unknown } | { ok: false; message: string };

/**
 * Applies `ops` to a copy-on-write of `doc` (objects only, which is all a Lease needs).
 * All or nothing: a failed `test` or a missing path leaves `doc` untouched.
 */
export function applyJsonPatch(doc: unknown, ops: JsonPatchOp[]): PatchOutcome {
  const root = structuredClone(doc) as Record<string, unknown>;
  for (const op of ops) {
    const segs = segments(op.path);
    const last = segs.pop() as string; // split() yields at least one segment: "/" names the key ''
    let parent: unknown = root;
    for (const s of segs) {
      parent = parent && typeof parent === 'object' ? (parent as Record<string, unknown>)[s] : undefined;
    }
    if (!parent || typeof parent !== 'object' || Array.isArray(parent)) {
      return { ok: false, message: `${op.op} operation does not apply: doc is missing path: "${op.path}"` };
    }
    const target = parent as Record<string, unknown>;
    switch (op.op) {
      case 'test':
        if (JSON.stringify(target[last]) !== JSON.stringify(op.value)) {
          return { ok: false, message: `testing value ${op.path} failed` };
        }
        break;
      case 'replace':
        if (!(last in target))
          return { ok: false, message: `replace operation does not apply: doc is missing key: ${op.path}` };
        target[last] = op.value;
        break;
      case 'add':
        target[last] = op.value;
        break;
    }
  }
  return { ok: true, doc: root };
}
