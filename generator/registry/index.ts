// The registry API other parts of nixway call (deploy, diagnose, the CLI commands).
export { withRegistryAuth, REGISTRY_USER, type RegistryAuth } from "./auth.ts";
export { contentTagFor, isContentTag, CONTENT_TAG_PATTERN } from "./content-tag.ts";
export { inspectImage, listTags, resolveTagDigest, ImageNotFoundError, type ImageInfo } from "./inspect.ts";
export { promoteTag, type PromoteResult } from "./promote.ts";
export { pushImage, DEFAULT_PUSH_TAGS, type PushOptions, type PushResult } from "./push.ts";
export { imageRef, repositoryFor, registryHost } from "./reference.ts";
export { DEFAULT_RETRY, type RetryPolicy } from "./retry.ts";
export type { RegistryOptions } from "./session.ts";
export { RegistryError, type RegistryErrorKind } from "./errors.ts";
