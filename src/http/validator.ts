import { Ajv, type Options as AjvOptions } from 'ajv';
import addFormats from 'ajv-formats';

// Request bodies are validated strictly (no type coercion: "5" is not a quantity); the query
// string, path and headers arrive as text, so there numbers and booleans are coerced.
export function validatorCompiler() {
  const common: AjvOptions = { allErrors: true, useDefaults: true, removeAdditional: false, strict: false };
  const body = addFormats.default(new Ajv({ ...common, coerceTypes: false }));
  const text = addFormats.default(new Ajv({ ...common, coerceTypes: 'array' }));
  return ({ schema, httpPart }: { schema: object; httpPart?: string }) => (httpPart === 'body' ? body : text).compile(schema);
}
