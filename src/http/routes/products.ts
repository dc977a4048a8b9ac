import { Type } from 'typebox';
import * as service from '../../services/products.ts';
import { IdParams, Page, problems } from '../schemas/common.ts';
import { CreateProductSchema, ProductLookupQuerySchema, ProductQuerySchema, UpdateProductSchema } from '../schemas/products.ts';
import type { App } from '../types.ts';

const Product = Type.Ref('Product');

export async function productRoutes(app: App) {
  app.get(
    '/products',
    {
      config: { access: 'read' },
      schema: {
        operationId: 'listProducts',
        tags: ['catalog'],
        summary: 'List and search products',
        querystring: ProductQuerySchema,
        response: { 200: Page(Product, 'Product'), ...problems(401, 403, 422) },
      },
    },
    (request) => service.listProducts(request.ctx, request.query),
  );

  app.post(
    '/products',
    {
      config: { access: 'catalog:write' },
      schema: {
        operationId: 'createProduct',
        tags: ['catalog'],
        summary: 'Create a product',
        body: CreateProductSchema,
        response: { 201: Product, ...problems(401, 403, 404, 409, 422) },
      },
    },
    async (request, reply) => reply.code(201).send(await service.createProduct(request.ctx, request.body)),
  );

  app.get(
    '/products/lookup',
    {
      config: { access: 'read' },
      schema: {
        operationId: 'lookupProduct',
        tags: ['catalog'],
        summary: 'Find the one product a scanned barcode or typed SKU identifies',
        description:
          'code (surrounding white space removed) matches a barcode exactly, or else a SKU case-insensitively. ' +
          'Among several matches, a barcode match wins over a SKU match, then a product in use over an archived one; ' +
          'an archived product is answered with archived: true. Nothing matches → 404. Two or more products equally good ' +
          '(two products in use with the same barcode) → 409 conflict, whose `products` lists them ({id, sku, name}).',
        querystring: ProductLookupQuerySchema,
        response: { 200: Product, ...problems(401, 403, 404, 409, 422) },
      },
    },
    (request) => service.lookupProduct(request.ctx, request.query.code),
  );

  app.get(
    '/products/:id',
    {
      config: { access: 'read' },
      schema: {
        operationId: 'getProduct',
        tags: ['catalog'],
        summary: 'Get a product with its category',
        params: IdParams,
        response: { 200: Product, ...problems(401, 403, 404) },
      },
    },
    (request) => service.getProduct(request.ctx, request.params.id),
  );

  app.patch(
    '/products/:id',
    {
      config: { access: 'catalog:write' },
      schema: {
        operationId: 'updateProduct',
        tags: ['catalog'],
        summary: 'Change a product',
        params: IdParams,
        body: UpdateProductSchema,
        response: { 200: Product, ...problems(401, 403, 404, 409, 422) },
      },
    },
    (request) => service.updateProduct(request.ctx, request.params.id, request.body),
  );

  app.delete(
    '/products/:id',
    {
      config: { access: 'catalog:write' },
      schema: {
        operationId: 'archiveProduct',
        tags: ['catalog'],
        summary: 'Archive a product',
        description: 'Products are never deleted, since the ledger refers to them: this archives it and answers the archived product.',
        params: IdParams,
        response: { 200: Product, ...problems(401, 403, 404) },
      },
    },
    (request) => service.archiveProduct(request.ctx, request.params.id),
  );
}
