"""The artifact part of a model version's admin page: its stored files with digests, integrity status and
download links, and a staff upload form that calls the same ``store_files`` as the API."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from kernel.exceptions import RegistryError
from models_app.artifacts.upload import Incoming, store_files


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    def __init__(self, *args, **kwargs):
        kwargs.setdefault("widget", MultipleFileInput())
        super().__init__(*args, **kwargs)

    def clean(self, data, initial=None):
        if isinstance(data, (list, tuple)):
            return [super(MultipleFileField, self).clean(item, initial) for item in data]
        return [super().clean(data, initial)]


class ArtifactUploadForm(forms.Form):
    files = MultipleFileField(help_text="Each file is stored under its own name; a declared size or digest must match.")


class ArtifactAdminMixin:
    """Mixed into ModelVersionAdmin: adds the "Stored files" section and the upload page."""

    artifact_fieldset = ("Stored files", {"fields": ("stored_files",)})

    def get_urls(self):
        return [
            path(
                "<path:object_id>/artifacts/upload/",
                self.admin_site.admin_view(self.artifact_upload_view),
                name="models_app_modelversion_artifact_upload",
            ),
            *super().get_urls(),
        ]

    def api_file_url(self, version, filename: str) -> str:
        return reverse(
            "models-api:model-artifact",
            kwargs={"name": version.model.name, "version": version.version, "filename": filename},
        )

    def stored_files(self, version):
        files = list(version.artifact_files.all())
        rows = format_html_join(
            "",
            '<tr class="artifact-file"><td><a href="{}">{}</a></td><td>{}</td><td><code>{}</code></td><td><code>{}</code></td>'
            '<td class="integrity">{}</td><td>{}</td><td>{}</td></tr>',
            (
                (
                    self.api_file_url(version, f.filename),
                    f.filename,
                    f"{f.size:,}",
                    f.sha256,
                    f.blake3,
                    f.get_integrity_display(),
                    f.verified_at.strftime("%Y-%m-%d %H:%M UTC"),
                    "sealed" if f.sealed else "",
                )
                for f in files
            ),
        )
        upload = reverse("admin:models_app_modelversion_artifact_upload", args=[version.pk])
        sealed = "The artifact set is sealed." if version.artifacts_sealed_at else ""
        return format_html(
            '<table id="stored-files"><thead><tr><th>file</th><th>bytes</th><th>sha256</th><th>blake3</th><th>integrity</th>'
            '<th>verified</th><th></th></tr></thead><tbody>{}</tbody></table><p>{} {} <a class="button" href="{}">Upload files</a></p>',
            rows or mark_safe('<tr><td colspan="7">No stored files.</td></tr>'),
            sealed,
            f"{len(files)} file(s)." if files else "",
            upload,
        )

    stored_files.short_description = "stored files"

    def artifact_upload_view(self, request, object_id):
        version = get_object_or_404(self.model.objects.select_related("model"), pk=object_id)
        if not self.has_change_permission(request, version):
            raise PermissionDenied
        form = ArtifactUploadForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            uploads = form.cleaned_data["files"]
            try:
                stored = store_files(version, [Incoming(u.name, u, u.size) for u in uploads], user=request.user)
            except RegistryError as exc:
                form.add_error("files", exc.message)
            else:
                self.message_user(request, f"Stored {', '.join(f.filename for f in stored)}.", messages.SUCCESS)
                return HttpResponseRedirect(reverse("admin:models_app_modelversion_change", args=[version.pk]))
            finally:
                for upload in uploads:
                    upload.close()
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": f"Upload files to {version}",
            "form": form,
            "version": version,
        }
        return render(request, "admin/models_app/artifact_upload.html", context)
