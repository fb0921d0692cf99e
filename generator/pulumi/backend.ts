// Where Pulumi keeps the state of every stack: a Scaleway Object Storage bucket, reached through
// Pulumi's S3 ("DIY") backend. Deploy runs the Pulumi CLI with the environment built here, so
// the Scaleway keys reach that child process only and nothing is written to ~/.pulumi.
import { InputError } from "../diagnostics.ts";
import type { RepoConfig } from "../model.ts";

export interface ScalewayKeys {
  /** SCW… access key: the S3 access key id too. */
  accessKey: string;
  /** The API secret key: the S3 secret and the provider's secret key. */
  secretKey: string;
}

export interface PulumiEnvOptions {
  /**
   * Passphrase of the stack's secrets (Pulumi's default secrets provider on DIY backends).
   * When absent, an inherited PULUMI_CONFIG_PASSPHRASE(_FILE) is kept.
   */
  passphrase?: string;
}

/**
 * `s3://<bucket>?endpoint=s3.<region>.scw.cloud&region=<region>&s3ForcePathStyle=true`.
 * Throws InputError when nixway.yaml names no bucket.
 */
export function stateBackendUrl(config: Pick<RepoConfig, "stateBucket" | "region" | "file">): string {
  if (config.stateBucket === undefined) {
    throw new InputError(
      `${config.file ?? "nixway.yaml"}: stateBucket is not set: name the Scaleway Object Storage bucket that holds the Pulumi state (e.g. stateBucket: my-pulumi-state)`,
    );
  }
  // Unknown query parameters are rejected by Pulumi: exactly these three.
  const query = `endpoint=s3.${config.region}.scw.cloud&region=${config.region}&s3ForcePathStyle=true`;
  return `s3://${encodeURIComponent(config.stateBucket)}?${query}`;
}

/** Inherited variables that would change which backend, account or credentials Pulumi uses. */
const DROPPED = [
  "AWS_SESSION_TOKEN",
  "AWS_SECURITY_TOKEN",
  "AWS_PROFILE",
  "AWS_DEFAULT_PROFILE",
  "AWS_SHARED_CREDENTIALS_FILE",
  "AWS_CONFIG_FILE",
  "AWS_ENDPOINT_URL",
  "AWS_ENDPOINT_URL_S3",
  "PULUMI_ACCESS_TOKEN",
  "PULUMI_BACKEND_URL",
];

/**
 * The complete environment of a Pulumi CLI child: `base` (e.g. process.env) minus anything
 * that could point Pulumi elsewhere, plus the state backend (PULUMI_BACKEND_URL, so no
 * `pulumi login` is needed or stored), the keys as AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY for
 * the bucket and as SCW_ACCESS_KEY/SCW_SECRET_KEY for the Scaleway provider, and the region and
 * project. Returns a new object; `base` is not modified. Never log the result.
 */
export function pulumiEnv(
  base: NodeJS.ProcessEnv,
  keys: ScalewayKeys,
  config: Pick<RepoConfig, "stateBucket" | "region" | "projectId" | "file">,
  options: PulumiEnvOptions = {},
): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...base };
  for (const name of DROPPED) delete env[name];
  env.PULUMI_BACKEND_URL = stateBackendUrl(config);
  env.AWS_ACCESS_KEY_ID = keys.accessKey;
  env.AWS_SECRET_ACCESS_KEY = keys.secretKey;
  env.AWS_REGION = config.region;
  env.SCW_ACCESS_KEY = keys.accessKey;
  env.SCW_SECRET_KEY = keys.secretKey;
  env.SCW_DEFAULT_REGION = config.region;
  // nixway.yaml documents SCW_DEFAULT_PROJECT_ID as overriding its projectId.
  const projectId = base.SCW_DEFAULT_PROJECT_ID || config.projectId;
  if (projectId) env.SCW_DEFAULT_PROJECT_ID = projectId;
  if (options.passphrase !== undefined) env.PULUMI_CONFIG_PASSPHRASE = options.passphrase;
  // No update check or telemetry round-trips during a deploy.
  env.PULUMI_SKIP_UPDATE_CHECK = "true";
  return env;
}
