import { createSigner, createVerifier } from 'fast-jwt';

export interface TokenSettings {
  /** HS256 key (`JWT_SECRET`, at least 32 characters), shared with the gateway. */
  readonly secret: string;
  /** `iss` claim (`JWT_ISSUER`, default `noa`). */
  readonly issuer: string;
  /** `aud` claim (`JWT_AUDIENCE`, default `noa`). */
  readonly audience: string;
  /** Lifetime in seconds (`JWT_TTL_SECONDS`, default 3600). */
  readonly ttlSeconds: number;
}

export interface IssuedToken {
  readonly accessToken: string;
  readonly tokenType: 'Bearer';
  /** Seconds until expiry. */
  readonly expiresIn: number;
}

/**
 * Issues and checks access tokens with fast-jwt (HS256; ≈35–50 µs per verify,
 * DESIGN.md). Claims: `sub` = user id, `iss`, `aud`, `iat`, `exp`.
 */
export function createTokens(settings: TokenSettings) {
  const sign = createSigner({
    key: settings.secret,
    algorithm: 'HS256',
    iss: settings.issuer,
    aud: settings.audience,
    expiresIn: settings.ttlSeconds * 1000,
  });
  const verify = createVerifier({
    key: settings.secret,
    algorithms: ['HS256'],
    allowedIss: settings.issuer,
    allowedAud: settings.audience,
    requiredClaims: ['sub', 'exp', 'iss', 'aud'],
    cache: 1000,
  });
  return {
    issue(userId: string): IssuedToken {
      return { accessToken: sign({ sub: userId }), tokenType: 'Bearer', expiresIn: settings.ttlSeconds };
    },
    /** The token's subject, or undefined when the token is invalid or expired. */
    subject(token: string): string | undefined {
      try {
        const payload = verify(token) as { sub?: unknown };
        return typeof payload.sub === 'string' ? payload.sub : undefined;
      } catch {
        return undefined;
      }
    },
  };
}

export type Tokens = ReturnType<typeof createTokens>;
