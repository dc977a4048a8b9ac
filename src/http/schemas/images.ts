import { Type } from 'typebox';
import { Uuid } from './common.ts';

export const ImageParams = Type.Object({ id: Uuid, imageId: Uuid });

const Binary = Type.String({ format: 'binary' });

/**
 * The upload's body, for the documentation (client generators): the handler reads the multipart
 * stream itself, so this schema validates nothing (src/http/routes/images.ts).
 */
export const UploadImageBody = {
  content: {
    'multipart/form-data': {
      schema: Type.Object(
        { file: { ...Binary, description: 'A PNG, JPEG or WebP image, recognised by its bytes; at most UPLOAD_MAX_BYTES' } },
        { required: ['file'] },
      ),
    },
  },
};

/** A stored image or thumbnail, in its own content type. */
export const PictureResponse = (what: string, contentTypes: readonly string[]) => ({
  description: what,
  content: Object.fromEntries(contentTypes.map((type) => [type, { schema: Binary }])),
});
