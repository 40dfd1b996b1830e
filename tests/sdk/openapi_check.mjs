// tests/sdk/openapi_check.mjs — checks GET /v1/openapi.json with real
// OpenAPI tooling, for tests/e2e/test_gw_openapi_tool.py.
//
//   node tests/sdk/openapi_check.mjs DOC [--responses] [--open-objects]
//
// DOC is a file or an http(s) URL. The document is validated first:
//   - against the official OpenAPI 3.1 JSON Schema, and its $refs resolved
//     (@seriousme/openapi-schema-validator: Validator.validate);
//   - every Schema Object (components, parameters, request and response
//     bodies) compiled by Ajv as JSON Schema 2020-12, the dialect of 3.1, in
//     strict mode (unknown keywords, formats and types are errors; the
//     OpenAPI vocabulary's annotations discriminator, xml, externalDocs and
//     example are known keywords);
//   - every {name} of a path template declared as a required path parameter.
// Every problem is printed ("doc error: ...").
//
// With --responses, records then come on stdin, one JSON object a line:
//   {"method": "GET", "path": "/v1/sms/{messageId}", "status": 200,
//    "contentType": "application/json; charset=utf-8", "body": "...raw text..."}
// (path is the document's path template; body is the response's raw text, or
// an already parsed JSON value; "name" may label the record). Each must hit a
// documented operation and status (exact, then NXX, then default), a
// documented media type, and its body must validate against that media
// type's schema (JSON bodies are parsed first; a response documented without
// content must have an empty body). Object properties that the schema does
// not describe are failures too (the document is to describe what the server
// answers), unless --open-objects; free-form objects (schemas naming no
// properties) stay free-form. One line per record ("ok  " or "FAIL"), then a
// summary with the documented operations no record reached.
//
// Exit 0 if the document and every record are right, 1 otherwise, 2 on bad
// usage or an unreadable document.
// Install the packages first: npm ci --prefix tests/sdk (tests/run.sh does).
import { readFile } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import { Validator } from '@seriousme/openapi-schema-validator';
import Ajv2020 from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';

const addFormats = addFormatsModule.default || addFormatsModule;
const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];
const SCHEMA_URI = 'https://smsgw.invalid/openapi/components/schemas/';
const COMPONENT_PREFIX = '#/components/schemas/';

const args = process.argv.slice(2);
const docArg = args.find((a) => !a.startsWith('--'));
const withResponses = args.includes('--responses');
const openObjects = args.includes('--open-objects');
if (!docArg || args.some((a) => a.startsWith('--') && !['--responses', '--open-objects'].includes(a))) {
  console.error('usage: openapi_check.mjs DOC_FILE_OR_URL [--responses] [--open-objects] [< records.jsonl]');
  process.exit(2);
}

function fetchText(url) {
  return new Promise((resolve, reject) => {
    (url.startsWith('https:') ? https : http).get(url, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        if (res.statusCode !== 200) reject(new Error(`GET ${url} answered ${res.statusCode}`));
        else resolve(Buffer.concat(chunks).toString('utf8'));
      });
      res.on('error', reject);
    }).on('error', reject);
  });
}

const pointerGet = (root, pointer) => pointer.split('/').slice(1)
  .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'))
  .reduce((o, k) => (o !== null && typeof o === 'object' ? o[k] : undefined), root);
const esc = (k) => String(k).replace(/~/g, '~0').replace(/\//g, '~1');
const isObj = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);
const short = (v) => {
  const s = JSON.stringify(v);
  return s === undefined ? String(v) : s.length > 120 ? s.slice(0, 117) + '...' : s;
};

// "#/components/schemas/X[/more]" -> "SCHEMA_URI X[#/more]"; other refs stay
// as they are (and fail to resolve, which is reported)
function rewriteRefs(node) {
  if (Array.isArray(node)) return node.map(rewriteRefs);
  if (!isObj(node)) return node;
  const out = {};
  for (const [k, v] of Object.entries(node)) {
    if (k === '$ref' && typeof v === 'string' && v.startsWith(COMPONENT_PREFIX)) {
      const [name, ...rest] = v.slice(COMPONENT_PREFIX.length).split('/');
      out[k] = SCHEMA_URI + name + (rest.length ? '#/' + rest.join('/') : '');
    } else {
      out[k] = rewriteRefs(v);
    }
  }
  return out;
}

// Closing objects for the response check: every schema at a new instance
// location (the root, properties/*, items, prefixItems/*, additionalProperties,
// patternProperties/*) that describes properties (itself or through $ref,
// allOf, anyOf, oneOf) becomes {allOf: [it], unevaluatedProperties: false}:
// unevaluatedProperties sees through the in-place applicators, so a property
// described by any applicable part is allowed and any other is reported.
function describesProperties(schema, doc, seen = new Set()) {
  if (!isObj(schema) || seen.has(schema)) return false;
  seen.add(schema);
  if ('properties' in schema || 'patternProperties' in schema ||
      'additionalProperties' in schema || 'unevaluatedProperties' in schema) return true;
  if (typeof schema.$ref === 'string' && schema.$ref.startsWith('#/')) {
    if (describesProperties(pointerGet(doc, schema.$ref.slice(1)), doc, seen)) return true;
  }
  return ['allOf', 'anyOf', 'oneOf'].some((k) => Array.isArray(schema[k]) &&
    schema[k].some((s) => describesProperties(s, doc, seen)));
}

function closeObjects(schema, doc, atLocation = true) {
  if (Array.isArray(schema)) return schema.map((s) => closeObjects(s, doc, false));
  if (!isObj(schema)) return schema;
  const out = {};
  for (const [k, v] of Object.entries(schema)) {
    if (k === 'properties' || k === 'patternProperties' || k === '$defs') {
      out[k] = Object.fromEntries(Object.entries(v).map(([n, s]) => [n, closeObjects(s, doc, k !== '$defs')]));
    } else if (k === 'items' || k === 'additionalProperties' || k === 'unevaluatedProperties' ||
               k === 'unevaluatedItems' || k === 'contains' || k === 'propertyNames') {
      out[k] = closeObjects(v, doc, k !== 'propertyNames');
    } else if (k === 'prefixItems') {
      out[k] = v.map((s) => closeObjects(s, doc, true));
    } else if (['allOf', 'anyOf', 'oneOf'].includes(k)) {
      out[k] = v.map((s) => closeObjects(s, doc, false));
    } else if (['not', 'if', 'then', 'else'].includes(k)) {
      out[k] = closeObjects(v, doc, false);
    } else if (k === 'dependentSchemas') {
      out[k] = Object.fromEntries(Object.entries(v).map(([n, s]) => [n, closeObjects(s, doc, false)]));
    } else {
      out[k] = v; // $ref, keywords with values that are no schemas, annotations
    }
  }
  if (atLocation && !('unevaluatedProperties' in out) && !('additionalProperties' in out) &&
      describesProperties(schema, doc)) {
    return { allOf: [out], unevaluatedProperties: false };
  }
  return out;
}

function newAjv(strictTypes = true) {
  const ajv = new Ajv2020({
    strict: true, // unknown keywords and formats, odd types: compile errors
    strictTypes, // off for the closed copies: unevaluatedProperties without a type
    strictRequired: false, // `required` may name properties an allOf sibling describes
    allowUnionTypes: true, // type: ["string", "null"] is 3.1's nullable
    allErrors: true,
    validateFormats: true,
  });
  addFormats(ajv);
  // OpenAPI 3.1's base vocabulary: annotations, not assertions
  ajv.addVocabulary(['discriminator', 'xml', 'externalDocs', 'example']);
  // Ajv knows OpenAPI 3.0's nullable; 3.1 has none (type: [..., "null"]), so
  // strict mode must call it the unknown keyword it is
  ajv.removeKeyword('nullable');
  return ajv;
}

function formatAjvErrors(errors) {
  return (errors || []).map((e) => {
    const where = '$' + e.instancePath.replace(/\//g, '.');
    const extra = e.params && Object.keys(e.params).length ? ' ' + short(e.params) : '';
    return `${where}: ${e.message}${extra} (schema ${e.schemaPath})`;
  });
}

// Every Schema Object outside components/schemas: [pointer, schema]
function collectSchemas(node, pointer, out) {
  if (Array.isArray(node)) node.forEach((v, i) => collectSchemas(v, `${pointer}/${i}`, out));
  else if (isObj(node)) {
    for (const [k, v] of Object.entries(node)) {
      if (pointer === '#/components' && k === 'schemas') continue;
      if (k === 'schema' && isObj(v)) out.push([`${pointer}/schema`, v]);
      else if (k !== 'examples' && k !== 'example') collectSchemas(v, `${pointer}/${esc(k)}`, out);
    }
  }
  return out;
}

async function main() {
  let text;
  try {
    text = /^https?:\/\//.test(docArg) ? await fetchText(docArg) : await readFile(docArg, 'utf8');
  } catch (e) {
    console.error(`cannot read ${docArg}: ${e.message}`);
    process.exit(2);
  }
  let doc;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    console.error(`${docArg} is not JSON: ${e.message}`);
    process.exit(2);
  }
  const docErrors = [];

  // 1. the official OpenAPI schema of the document's version, and the $refs.
  // The validator parses a text with YAML 1.2, which also refuses duplicate
  // keys (JSON.parse keeps the last one silently).
  const validator = new Validator();
  const res = await validator.validate(text.includes('\n') ? text : text + '\n');
  if (!String(validator.version || '').startsWith('3.1')) {
    docErrors.push(`openapi is ${short(doc.openapi)}, not 3.1.x`);
  }
  if (!res.valid) {
    if (typeof res.errors === 'string') docErrors.push(res.errors);
    else for (const e of res.errors || []) {
      docErrors.push(`${e.instancePath || '/'}: ${e.message}${e.params ? ' ' + short(e.params) : ''}`);
    }
  }

  // 2. the Schema Objects, as JSON Schema 2020-12, strictly
  const ajv = newAjv();
  const components = (doc.components && doc.components.schemas) || {};
  for (const [name, schema] of Object.entries(components)) {
    ajv.addSchema(rewriteRefs(schema), SCHEMA_URI + name);
  }
  const broken = new Set();
  for (const name of Object.keys(components)) {
    try {
      ajv.getSchema(SCHEMA_URI + name);
    } catch (e) {
      broken.add(COMPONENT_PREFIX + name);
      docErrors.push(`#/components/schemas/${name}: ${e.message}`);
    }
  }
  const refsOf = (node, out = []) => {
    if (Array.isArray(node)) node.forEach((v) => refsOf(v, out));
    else if (isObj(node)) {
      for (const [k, v] of Object.entries(node)) {
        if (k === '$ref' && typeof v === 'string') out.push(v);
        else refsOf(v, out);
      }
    }
    return out;
  };
  for (const [pointer, schema] of collectSchemas(doc, '#', [])) {
    // a broken component is reported once, not again at each use
    if (refsOf(schema).some((r) => broken.has(r.split('/').slice(0, 4).join('/')))) continue;
    try {
      ajv.compile(rewriteRefs(schema));
    } catch (e) {
      docErrors.push(`${pointer}: ${e.message}`);
    }
  }

  // 3. path template parameters
  for (const [path, item] of Object.entries(doc.paths || {})) {
    const names = [...path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]);
    for (const method of METHODS.filter((m) => item[m])) {
      const params = [...(item.parameters || []), ...(item[method].parameters || [])]
        .map((p) => (p.$ref ? pointerGet(doc, p.$ref.slice(1)) : p)).filter(Boolean);
      for (const n of names) {
        const p = params.find((q) => q.in === 'path' && q.name === n);
        if (!p) docErrors.push(`${method.toUpperCase()} ${path}: path parameter {${n}} is not declared`);
        else if (p.required !== true) docErrors.push(`${method.toUpperCase()} ${path}: path parameter {${n}} is not required: true`);
      }
      for (const p of params.filter((q) => q.in === 'path' && !names.includes(q.name))) {
        docErrors.push(`${method.toUpperCase()} ${path}: path parameter ${p.name} is not in the template`);
      }
    }
  }

  for (const e of docErrors) console.log('doc error: ' + e);
  console.log(docErrors.length
    ? `document: ${docErrors.length} error(s)`
    : `document: valid OpenAPI ${doc.openapi} (official schema, $refs, ` +
      `${Object.keys(components).length} component schemas compiled as JSON Schema 2020-12)`);
  if (!withResponses) return docErrors.length ? 1 : 0;

  // 4. the live answers
  const input = await new Promise((resolve, reject) => {
    const chunks = [];
    process.stdin.on('data', (c) => chunks.push(c));
    process.stdin.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    process.stdin.on('error', reject);
  });
  // the schemas the answers are checked with: the document's, or (by
  // default) copies of them with every described object closed
  let checkAjv = ajv;
  if (!openObjects) {
    checkAjv = newAjv(false);
    for (const [name, schema] of Object.entries(components)) {
      // a component's root is reached through a $ref at a location (closed
      // there) or in place (closed by the location around it)
      checkAjv.addSchema(rewriteRefs(closeObjects(schema, doc, false)), SCHEMA_URI + name);
    }
  }
  const compiled = new Map();
  const validatorFor = (pointer, schema) => {
    if (!compiled.has(pointer)) {
      let fn;
      try {
        fn = checkAjv.compile(rewriteRefs(openObjects ? schema : closeObjects(schema, doc)));
      } catch (e) {
        fn = e;
      }
      compiled.set(pointer, fn);
    }
    return compiled.get(pointer);
  };
  const seen = new Set();
  let ok = 0;
  let failed = 0;
  let lineNo = 0;
  for (const line of input.split('\n')) {
    lineNo++;
    if (!line.trim()) continue;
    let rec;
    const problems = [];
    let label = `line ${lineNo}`;
    try {
      rec = JSON.parse(line);
      label = `${rec.method} ${rec.path} ${rec.status} ${rec.contentType || '-'}` +
        (rec.name ? ` [${rec.name}]` : '');
      check(rec, problems);
    } catch (e) {
      problems.push(e.message);
    }
    if (problems.length) {
      failed++;
      console.log(`FAIL ${label}`);
      for (const p of problems) console.log('       ' + p);
    } else {
      ok++;
      console.log(`ok   ${label}`);
    }
  }

  function check(rec, problems) {
    const method = String(rec.method || '').toLowerCase();
    const item = doc.paths && doc.paths[rec.path];
    if (!item) return problems.push(`path ${short(rec.path)} is not in the document`);
    const op = item[method];
    if (!METHODS.includes(method) || !op) {
      return problems.push(`${String(rec.method).toUpperCase()} is not documented for ${rec.path}`);
    }
    seen.add(`${method.toUpperCase()} ${rec.path}`);
    const status = String(rec.status);
    const responses = op.responses || {};
    const key = [status, status[0] + 'XX', 'default'].find((k) => k in responses);
    if (!key) {
      return problems.push(`status ${status} is not documented (documented: ${Object.keys(responses).join(', ')})`);
    }
    let response = responses[key];
    const base = `#/paths/${esc(rec.path)}/${method}/responses/${esc(key)}`;
    let pointer = base;
    if (response && response.$ref) {
      pointer = response.$ref;
      response = pointerGet(doc, response.$ref.slice(1));
      if (!response) return problems.push(`${base}: $ref ${pointer} does not resolve`);
    }
    const content = response.content || {};
    const body = rec.body;
    const empty = body === undefined || body === null || body === '';
    if (!Object.keys(content).length) {
      if (!empty) problems.push(`a body, but the response is documented without content: ${short(body)}`);
      return;
    }
    const ct = String(rec.contentType || '').split(';')[0].trim().toLowerCase();
    if (!ct) return problems.push(`no Content-Type (documented: ${Object.keys(content).join(', ')})`);
    const mtKey = [ct, ct.split('/')[0] + '/*', '*/*'].find((k) => k in content);
    if (!mtKey) {
      return problems.push(`content type ${ct} is not documented (documented: ${Object.keys(content).join(', ')})`);
    }
    const media = content[mtKey];
    if (!media.schema) return; // any body
    let value = body;
    const isJson = /^application\/(.+\+)?json$/.test(ct);
    if (isJson && typeof body === 'string') {
      try {
        value = JSON.parse(body);
      } catch (e) {
        return problems.push(`the body is not JSON (${e.message}): ${short(body)}`);
      }
    }
    if (!isJson && typeof value !== 'string') {
      return problems.push(`a ${ct} body must come as a string, got ${short(value)}`);
    }
    const fn = validatorFor(`${pointer}/content/${esc(mtKey)}/schema`, media.schema);
    if (fn instanceof Error) return problems.push(`the schema does not compile: ${fn.message}`);
    if (!fn(value)) {
      problems.push(...formatAjvErrors(fn.errors));
      problems.push(`body: ${short(value)}`);
    }
  }

  const all = [];
  for (const [path, item] of Object.entries(doc.paths || {})) {
    for (const m of METHODS) if (item[m]) all.push(`${m.toUpperCase()} ${path}`);
  }
  const unseen = all.filter((o) => !seen.has(o));
  console.log(`responses: ${ok + failed} checked, ${ok} ok, ${failed} failed; ` +
    `${all.length - unseen.length} of ${all.length} documented operations reached`);
  if (unseen.length) console.log('not reached: ' + unseen.join(', '));
  return docErrors.length || failed || ok + failed === 0 ? 1 : 0;
}

main().then((code) => process.exit(code), (e) => {
  console.error(e && e.stack ? e.stack : e);
  process.exit(2);
});
