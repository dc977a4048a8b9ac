import { Type } from 'typebox';
import { Name, Timestamp } from './common.ts';
import { Password } from './users.ts';

// Logging in and one's own account (/auth/login, /me); the user they answer is users.ts's User.

export const LoginSchema = Type.Object(
  // The login form takes any password up to the bound: rules for new passwords don't apply to old ones.
  { email: Type.String({ minLength: 1, maxLength: 254 }), password: Type.String({ minLength: 1, maxLength: 256 }) },
  { additionalProperties: false },
);
export const LoginResultSchema = Type.Object({
  token: Type.String({ description: 'Bearer token for this session (the same secret as the session cookie)' }),
  csrfToken: Type.String({ description: 'Send it as X-CSRF-Token with unsafe requests authenticated by the cookie' }),
  expiresAt: Timestamp,
  user: Type.Ref('User'),
});

export const UpdateMeSchema = Type.Object(
  {
    name: Type.Optional(Name),
    password: Type.Optional(Password),
    // Like the login form's: any password up to the bound, since the rules for new ones don't apply to it.
    currentPassword: Type.Optional(
      Type.String({ minLength: 1, maxLength: 256, description: 'Your password now: required with password, and only with it' }),
    ),
  },
  {
    additionalProperties: false,
    minProperties: 1,
    description:
      'Your own name, or a new password with your current one. Email, role, locations and disabled are changed by an admin (PATCH /users/{id}).',
  },
);
