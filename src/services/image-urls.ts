// Where a product's image and thumbnail are served (src/http/routes/images.ts). Each URL names
// the image's id, which a new image changes: a URL always serves the same bytes, so clients may
// cache it for good (Cache-Control: immutable).

export const API_PREFIX = '/api/v1';

export function imageUrls(productId: string, imageId: string | null): { imageUrl: string | null; thumbnailUrl: string | null } {
  if (imageId === null) return { imageUrl: null, thumbnailUrl: null };
  return {
    imageUrl: `${API_PREFIX}/products/${productId}/image/${imageId}`,
    thumbnailUrl: `${API_PREFIX}/products/${productId}/thumbnail/${imageId}`,
  };
}
