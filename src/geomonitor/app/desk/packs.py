"""The desk's evidence-pack button: the candidate's pack (:mod:`..pack`) as one zip, for
the desk and supervisor roles, with the purpose typed in the form and the manifest's
SHA-256 in the consultation log."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Form, Request
from fastapi.responses import Response

from ...store.domain import Store
from ..consult import purpose_text
from ..pack import candidate_pack, write_pack, zipped
from .openapi import SOME_TEXT, answers
from .review import Desk, NotAllowed

if TYPE_CHECKING:
    from .accounts import Session

ZIP: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "the pack: a zip of its PDF, data files, map and manifest",
        "content": {"application/zip": {"schema": {"type": "string", "format": "binary"}}},
    }
}


def pack_route(app: FastAPI, web: Any) -> None:
    """Add the route to ``app``; ``web`` is the desk's :class:`~.web.Web` (its session,
    CSRF check and error pages), passed in so that this module does not import it."""

    @app.post(
        "/candidates/{cid}/pack",
        response_class=Response,
        responses={**answers(403, 404, form=True), **ZIP},
    )
    def candidate_pack_zip(
        request: Request,
        cid: str,
        purpose: str = Form(min_length=3, max_length=300, pattern=SOME_TEXT),
        csrf: str = Form("", max_length=200),
    ) -> Response:
        """The candidate's evidence pack, as a zip (desk and supervisor roles)."""

        def go(st: Store, s: Session, desk: Desk) -> Response:
            if not web.csrf_ok(s, csrf, request):
                msg = "missing CSRF token"
                return web.page(request, "error.html", s, status=403, message=msg)
            if not s.user.may("decide"):
                raise NotAllowed(f"{s.user.username} ({s.user.role}) may not make evidence packs")
            it = desk.get(cid)  # another district's candidate: not found
            why = purpose_text(purpose)
            exhibit = f"GM/{cid}"
            with tempfile.TemporaryDirectory() as tmp:
                pack = candidate_pack(st, cid, exhibit, desk.now)
                digest = write_pack(pack, Path(tmp) / "pack", desk.now)
                body = zipped(Path(tmp) / "pack")
            if desk.consult is not None:
                desk.consult.purpose = why
                desk.consult.target = cid
                desk.consult.detail = f"exhibit {exhibit}; manifest sha256 {digest}"
                desk.consult.about(pack.subjects, [it.district])
            name = f"evidence-{cid}.zip"
            return Response(
                body,
                media_type="application/zip",
                headers={"Content-Disposition": f'attachment; filename="{name}"'},
            )

        return web.with_desk(request, go)
