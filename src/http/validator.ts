import { Ajv, type Options as AjvOptions } from 'ajv';
import addFormats from 'ajv-formats';

/** application/json, and the JSON types by suffix (application/merge-patch+json). */
const isJson = (mediaType: string) => mediaType === 'application/json' || mediaType.endsWith('+json');

const documentedOnly = () => true;

// Request bodies are validated strictly (no type coercion: "5" is not a quantity); the query
// string, path and headers arrive as text, so there numbers and booleans are coerced.
//
// A body schema keyed by media type (`body: { content: { 'text/csv': { schema } } }`, made by
// csvBody() or multipartFile() in schemas/common.ts) is validated, by Fastify, against the schema
// of the request's type. One that is not JSON (a file, a CSV) is no parsed value to validate: its
// route streams it and checks it as it reads, and its schema is there for /openapi.json alone.
export function validatorCompiler() {
  const common: AjvOptions = { allErrors: true, useDefaults: true, removeAdditional: false, strict: false };
  const body = addFormats.default(new Ajv({ ...common, coerceTypes: false }));
  const text = addFormats.default(new Ajv({ ...common, coerceTypes: 'array' }));
  return ({ schema, httpPart, contentType }: { schema: object; httpPart?: string; contentType?: string }) => {
    if (httpPart === 'body' && contentType !== undefined && !isJson(contentType)) return documentedOnly;
    return (httpPart === 'body' ? body : text).compile(schema);
  };
}
