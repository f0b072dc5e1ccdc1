"""Checked image generation: ``image_jobs``, ``image_steps`` and ``image_attempts`` (``v_image_attempts``)."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from refbench.credentials import redact
from refbench.generation.attempts import ImageJob
from refbench.registry.connection import insert_rows, now, transaction


@dataclass(frozen=True)
class StoredStep:
    """A stored step of a job, with its request and outcome."""

    step: int
    name: str
    prompt: str
    inputs: list[dict]
    status: str
    output_path: Path | None
    attempts: int
    cost_usd: float
    message: str | None


@dataclass(frozen=True)
class StoredImageJob:
    """A stored job and its steps."""

    job_id: str
    kind: str
    tag: str | None
    status: str
    model: str | None
    cost_usd: float
    message: str | None
    run_id: str | None
    steps: list[StoredStep]
    parameters: dict = field(default_factory=dict)


class ImageJobs:
    """The ``image_jobs``, ``image_steps`` and ``image_attempts`` tables."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self._con = con

    def save(self, job: ImageJob, *, run_id: str | None) -> str:
        """Store a job with every step and attempt (one transaction); returns its id."""
        job_id = f"{job.kind}-{uuid.uuid4().hex[:12]}"
        head = {
            "job_id": job_id,
            "kind": job.kind,
            "tag": job.tag,
            "status": job.status,
            "model": job.model,
            "parameters": json.dumps(job.parameters, default=str),
            "cost_usd": job.cost_usd,
            "message": redact(job.message),
            "run_id": run_id,
            "created_at": now(),
        }
        steps, attempts = [], []
        for index, step in enumerate(job.steps, start=1):
            steps.append(
                {
                    "job_id": job_id,
                    "step": index,
                    "name": step.name,
                    "prompt": step.prompt,
                    "inputs": json.dumps(list(step.references)),
                    "status": step.status,
                    "output_path": None if step.output_path is None else str(step.output_path),
                    "attempts": len(step.attempts),
                    "cost_usd": step.cost_usd,
                    "message": redact(step.message),
                }
            )
            attempts += [
                {
                    "job_id": job_id,
                    "step": index,
                    "attempt": a.number,
                    "output_path": None if a.output_path is None else str(a.output_path),
                    "ok": a.ok,
                    "checks": json.dumps([c.to_json() for c in a.checks]),
                    "facesim": a.facesim,
                    "yaw": a.yaw,
                    "face_width_frac": a.width_frac,
                    "cost_usd": a.cost_usd,
                    "tokens_in": a.tokens_in,
                    "tokens_out": a.tokens_out,
                    "api_attempts": a.api_attempts,
                    "seconds": a.seconds,
                    "error": redact(a.error),
                }
                for a in step.attempts
            ]
        with transaction(self._con):
            insert_rows(self._con, "image_jobs", [head])
            insert_rows(self._con, "image_steps", steps)
            insert_rows(self._con, "image_attempts", attempts)
        return job_id

    def list(self, *, run_id: str | None = None, kind: str | None = None) -> list[StoredImageJob]:
        """Stored jobs (of one run or kind, or all), oldest first, with their steps."""
        heads = self._con.execute(
            "SELECT job_id, kind, tag, status, model, cost_usd, message, run_id, parameters FROM image_jobs"
            " WHERE (? IS NULL OR run_id = ?) AND (? IS NULL OR kind = ?) ORDER BY created_at, job_id",
            [run_id, run_id, kind, kind],
        ).fetchall()
        return [
            StoredImageJob(*head[:8], steps=self.steps(head[0]), parameters=json.loads(head[8] or "{}"))
            for head in heads
        ]

    def steps(self, job_id: str) -> list[StoredStep]:
        """The steps of one job, in order."""
        rows = self._con.execute(
            "SELECT step, name, prompt, inputs, status, output_path, attempts, cost_usd, message FROM image_steps"
            " WHERE job_id = ? ORDER BY step",
            [job_id],
        ).fetchall()
        return [
            StoredStep(step, name, prompt, json.loads(inputs), status, Path(out) if out else None, n, cost, message)
            for step, name, prompt, inputs, status, out, n, cost, message in rows
        ]

    def attempts(self, job_id: str) -> list[dict]:
        """Every attempt of one job as plain dicts (``v_image_attempts`` columns), by step and attempt."""
        cursor = self._con.execute("SELECT * FROM v_image_attempts WHERE job_id = ? ORDER BY step, attempt", [job_id])
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
