"""Cross-cutting pieces every app uses; nothing here imports an app of ours."""
