# The inference function on Google Cloud Run with a GPU (docs/deploy.md walks through it).
# gpu_zonal_redundancy_disabled needs google provider 6.47 or later; node_selector is GA since 6.2x.
terraform {
  required_version = ">= 1.5"
  required_providers {
    google = {
      source  = "hashicorp/google"
      version = ">= 6.47, < 8.0"
    }
  }
}

provider "google" {
  project = var.project_id
  region  = var.region
}
