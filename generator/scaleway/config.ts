// Scaleway credentials and settings, read the way Scaleway's own tools read them (SCW_* environment
// variables), falling back to nixway.yaml for what it holds (region, projectId, where the API secret
// comes from: SCW_SECRET_KEY or `apiSecret`). The secret stays in a redacting `Secret` and is checked
// here, before the SDK sees it, because the SDK's own format error prints the key it was given.
import { OperationError } from "../diagnostics.ts";
import type { RepoConfig } from "../model.ts";
import { resolveApiSecret, type Secret } from "../secret.ts";

export const DEFAULT_API_URL = "https://api.scaleway.com";
export const REGIONS = ["fr-par", "nl-ams", "pl-waw"] as const;

export interface ScalewayConfig {
  accessKey: string;
  /** The API secret key: X-Auth-Token, registry password, and the provider's SCW_SECRET_KEY. */
  secretKey: Secret;
  projectId: string | undefined;
  region: string;
  /** Without a trailing slash; SCW_API_URL points tests at a local server. */
  apiUrl: string;
}

const ACCESS_KEY = /^SCW[A-Z0-9]{17}$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Everything the API client needs. Missing or malformed settings are OperationErrors that say what to
 * set; no message ever contains the secret.
 */
export async function resolveScalewayConfig(
  config: RepoConfig,
  env: NodeJS.ProcessEnv = process.env,
  /** Where apiSecret.command runs (the repository root). */
  cwd?: string,
): Promise<ScalewayConfig> {
  const problems: string[] = [];
  const accessKey = env.SCW_ACCESS_KEY ?? "";
  if (accessKey === "") problems.push("SCW_ACCESS_KEY is not set (the API key's access key, SCW followed by 17 characters)");
  else if (!ACCESS_KEY.test(accessKey)) problems.push("SCW_ACCESS_KEY is not an access key (expected SCW followed by 17 upper-case letters or digits)");

  const region = env.SCW_DEFAULT_REGION || config.region;
  if (!(REGIONS as readonly string[]).includes(region)) {
    problems.push(`${env.SCW_DEFAULT_REGION ? "SCW_DEFAULT_REGION" : "region in nixway.yaml"} is '${region}'; Serverless Containers run in ${REGIONS.join(", ")}`);
  }
  const projectId = env.SCW_DEFAULT_PROJECT_ID || config.projectId;
  if (projectId !== undefined && !UUID.test(projectId)) {
    problems.push(`${env.SCW_DEFAULT_PROJECT_ID ? "SCW_DEFAULT_PROJECT_ID" : "projectId in nixway.yaml"} is not a project id (a UUID)`);
  }
  const apiUrl = (env.SCW_API_URL || DEFAULT_API_URL).replace(/\/+$/, "");
  if (!/^https?:\/\/[^\s/]+/.test(apiUrl)) problems.push(`SCW_API_URL '${apiUrl}' is not an http(s) URL`);

  let secretKey: Secret | undefined;
  try {
    // SCW_SECRET_KEY, or the source nixway.yaml names (generator/secret.ts).
    secretKey = await resolveApiSecret(config, { env, cwd });
    if (!UUID.test(secretKey.reveal())) problems.push("the Scaleway API secret key is not in the expected format (a UUID); check SCW_SECRET_KEY or apiSecret in nixway.yaml");
  } catch (err) {
    if (err instanceof OperationError) problems.push(err.message);
    else throw err;
  }
  if (problems.length || !secretKey) throw new OperationError(`Scaleway configuration:\n  ${problems.join("\n  ")}`);
  return { accessKey, secretKey, projectId, region, apiUrl };
}
