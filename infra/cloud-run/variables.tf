# Every setting of the deployment, with its default and why. Values go in terraform.tfvars
# (see terraform.tfvars.example); secrets never do: their values are added with gcloud
# (docs/deploy.md), so they stay out of the Terraform state.

variable "project_id" {
  description = "Google Cloud project that holds the service."
  type        = string
}

variable "region" {
  description = "Cloud Run region with L4 GPUs (europe-west1, europe-west4, us-east4, asia-southeast1, us-central1 by invitation; see docs/deploy.md)."
  type        = string
  default     = "europe-west4"
}

variable "service_name" {
  description = "Cloud Run service name; also prefixes the service account, secrets and image repository."
  type        = string
  default     = "sa-munit-function"
}

variable "image" {
  description = "The GPU image built from functions/Dockerfile, e.g. europe-west4-docker.pkg.dev/PROJECT/sa-munit/function:TAG (pushed before apply)."
  type        = string
}

# --- GPU and instance size ----------------------------------------------------------------------

variable "gpu_type" {
  description = "Cloud Run GPU: nvidia-l4 (24 GB, needs >= 4 CPU and 16 GiB) or nvidia-rtx-pro-6000 (96 GB, needs >= 20 CPU and 80 GiB)."
  type        = string
  default     = "nvidia-l4"
  validation {
    condition     = contains(["nvidia-l4", "nvidia-rtx-pro-6000"], var.gpu_type)
    error_message = "gpu_type must be nvidia-l4 or nvidia-rtx-pro-6000."
  }
}

variable "gpu_zonal_redundancy" {
  description = "Reserve failover GPU capacity in other zones (costs more per GPU-second; needs its own quota). Off: best effort, cheaper."
  type        = bool
  default     = false
}

variable "cpu" {
  description = "vCPUs per instance (L4: at least 4). Image decoding, resizing and encoding run here while the GPU computes."
  type        = string
  default     = "4"
}

variable "memory" {
  description = "Memory per instance (L4: at least 16Gi). Holds the model cache too: Cloud Run's file system is in memory."
  type        = string
  default     = "16Gi"
}

# --- Scaling, matched to the batcher --------------------------------------------------------------

variable "min_instances" {
  description = "Instances kept warm. 0 scales to zero (pay nothing idle; the first request waits for a cold start). Each warm L4 instance is billed all the time."
  type        = number
  default     = 0
}

variable "max_instances" {
  description = "Upper bound on instances = GPUs; must not exceed the project's Cloud Run GPU quota in the region."
  type        = number
  default     = 3
}

variable "max_batch_size" {
  description = "MAX_BATCH_SIZE of the function's adaptive batcher: the largest batch one GPU run takes."
  type        = number
  default     = 8
}

variable "max_queue_delay_ms" {
  description = "MAX_QUEUE_DELAY_MS: how long a free worker waits for companions to fill a batch."
  type        = number
  default     = 10
}

variable "max_outputs_per_request" {
  description = "The most outputs one request may ask for (the API's n, at most 8): sizes the queue so an admitted request never meets queue_full."
  type        = number
  default     = 8
}

variable "request_timeout_seconds" {
  description = "Cloud Run request timeout; the edge gives one attempt ATTEMPT_TIMEOUT_MS (20 s), this only has to be longer."
  type        = number
  default     = 60
}

# --- Model store ----------------------------------------------------------------------------------

variable "model_source" {
  description = "MODEL_SOURCE: a model's folder holding current.json (follows the pointer), e.g. s3://sa-munit-models/models/sa-munit-shapes/."
  type        = string
}

variable "model_rollout" {
  description = "Any new value (e.g. the version just pointed at) rolls out a new revision whose instances follow current.json again."
  type        = string
  default     = "initial"
}

variable "s3_endpoint" {
  description = "AWS_ENDPOINT_URL_S3: Cloudflare R2 is https://<account id>.r2.cloudflarestorage.com; empty for AWS S3."
  type        = string
  default     = ""
}

variable "s3_region" {
  description = "AWS_REGION of the model store (R2: auto)."
  type        = string
  default     = "auto"
}

variable "public" {
  description = "Let anyone reach the service (allUsers run.invoker): the edge sends no Google identity token. The function itself refuses callers without FUNCTION_AUTH_TOKEN (401), except its health probes."
  type        = bool
  default     = true
}

variable "deletion_protection" {
  description = "Refuse terraform destroy of the service."
  type        = bool
  default     = true
}

variable "log_level" {
  description = "LOG_LEVEL of the function (pino)."
  type        = string
  default     = "info"
}
