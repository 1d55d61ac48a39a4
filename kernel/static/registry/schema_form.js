/* The register form (kernel/admin/schema_form.py renders its fields from the kind's JSON Schema).
   The page's structure is the document's: [data-key] names a member, [data-item] is an array element,
   [data-container] holds members. This script builds the document from it, asks the kind's validate endpoint
   (the API's own validation) as the curator types, and shows each error beside the field its JSON Pointer
   names, or the nearest field above it. On submit the document goes to the server, which registers it through
   the same verb as the API. */
(function () {
    "use strict";
    const form = document.getElementById("schema-form");
    if (!form) return;
    const root = form.querySelector("[data-root]");
    const state = document.getElementById("validation-state");
    const rootErrors = document.getElementById("document-errors");
    const validateUrl = form.dataset.validateUrl;
    const csrf = form.querySelector("input[name=csrfmiddlewaretoken]").value;

    const escape = (key) => String(key).replace(/~/g, "~0").replace(/\//g, "~1");
    const ownedBy = (el, container) => el.parentElement.closest("[data-container]") === container;

    function members(container) {
        return Array.from(container.querySelectorAll("[data-key]")).filter((el) => ownedBy(el, container));
    }

    function items(array) {
        return Array.from(array.querySelector(":scope > .schema-items").children).filter((el) => el.matches("[data-item]"));
    }

    function pointerOf(el) {
        const parts = [];
        for (let node = el; node && node !== root; node = node.parentElement) {
            if (node.matches("[data-key]")) parts.unshift(escape(node.dataset.key));
            else if (node.matches("[data-item]")) parts.unshift(String(items(node.closest("[data-kind=array]")).indexOf(node)));
        }
        return parts.length ? "/" + parts.join("/") : "";
    }

    const localProblems = new Map(); // field element -> message found before asking the server (bad JSON)

    function leafValue(field) {
        const input = field.querySelector("[data-input]");
        const raw = input.value;
        switch (field.dataset.kind) {
            case "integer":
            case "number":
                if (raw.trim() === "") return undefined;
                return Number.isFinite(Number(raw)) ? Number(raw) : raw;
            case "boolean":
                return raw === "" ? undefined : raw === "true";
            case "enum":
                return raw === "" ? undefined : JSON.parse(raw);
            case "list": {
                const words = raw.split(",").map((w) => w.trim()).filter(Boolean);
                return words.length ? words : undefined;
            }
            case "json":
                if (raw.trim() === "") return undefined;
                try {
                    return JSON.parse(raw);
                } catch (error) {
                    localProblems.set(field, "Not valid JSON: " + error.message);
                    return undefined;
                }
            default:
                return raw.trim() === "" ? undefined : raw;
        }
    }

    function valueOf(el) {
        if (el.dataset.kind === "object") return containerValue(el);
        if (el.dataset.kind === "array") {
            const values = items(el).map((item) => containerValue(item) || {});
            return values.length ? values : undefined;
        }
        return leafValue(el);
    }

    function containerValue(container) {
        const found = {};
        for (const member of members(container)) {
            const value = valueOf(member);
            if (value !== undefined) found[member.dataset.key] = value;
        }
        return Object.keys(found).length ? found : undefined;
    }

    function build() {
        localProblems.clear();
        return containerValue(root) || {};
    }

    function renumber() {
        // Ids follow the pointers, so labels stay tied to their inputs after items are added or removed.
        for (const array of root.querySelectorAll("[data-kind=array]")) {
            items(array).forEach((item, index) => {
                const label = `${array.dataset.key} ${index + 1}`;
                item.querySelector(":scope > legend").textContent = label;
                item.querySelector(":scope > .schema-remove").textContent = `Remove ${label}`;
            });
        }
        for (const field of root.querySelectorAll(".schema-field")) {
            const id = "field" + pointerOf(field).replace(/[^A-Za-z0-9_]/g, "-");
            field.querySelector("[data-input]").id = id;
            field.querySelector("label").htmlFor = id;
        }
    }

    function fieldFor(path) {
        // The field whose pointer is the error's path, else the nearest one above it.
        const byPointer = new Map();
        for (const el of root.querySelectorAll("[data-key], [data-item]")) byPointer.set(pointerOf(el), el);
        for (let probe = path; probe; probe = probe.slice(0, Math.max(probe.lastIndexOf("/"), 0))) {
            if (byPointer.has(probe)) return byPointer.get(probe);
        }
        return null;
    }

    function clearErrors() {
        for (const list of form.querySelectorAll(".field-errors")) list.replaceChildren();
        for (const el of form.querySelectorAll(".has-errors")) el.classList.remove("has-errors");
        rootErrors.replaceChildren();
    }

    function showError(el, text) {
        const list = el ? el.querySelector(":scope > .field-errors") : rootErrors;
        const item = document.createElement("li");
        item.textContent = text;
        list.appendChild(item);
        if (el) el.classList.add("has-errors");
    }

    function show(errors) {
        clearErrors();
        for (const [field, message] of localProblems) showError(field, message);
        for (const error of errors) {
            const el = fieldFor(error.path || "");
            const exact = el && pointerOf(el) === error.path;
            showError(el, exact || !error.path ? error.message : `${error.path}: ${error.message}`);
        }
    }

    let pending = null;
    let asked = 0;
    async function validate() {
        const mine = ++asked;
        const documentNow = build();
        state.textContent = "Checking…";
        try {
            const response = await fetch(validateUrl, {
                method: "POST",
                headers: { "Content-Type": "application/json", "X-CSRFToken": csrf, Accept: "application/json" },
                credentials: "same-origin",
                body: JSON.stringify(documentNow),
            });
            const answer = await response.json();
            if (mine !== asked) return; // a newer check is under way
            const errors = response.ok ? answer.errors || [] : answer.errors || [{ path: "", message: answer.detail || answer.message || `HTTP ${response.status}` }];
            show(errors);
            const count = errors.length + localProblems.size;
            state.textContent = count ? `${count} problem${count > 1 ? "s" : ""} (the API's validation)` : "Valid (the API's validation)";
            form.dataset.checked = count ? "invalid" : "valid";
        } catch (error) {
            if (mine === asked) state.textContent = "Could not check: " + error.message;
        }
    }

    function soon() {
        clearTimeout(pending);
        pending = setTimeout(validate, 350);
    }

    form.addEventListener("input", soon);
    form.addEventListener("change", soon);
    form.addEventListener("click", (event) => {
        const add = event.target.closest(".schema-add");
        const remove = event.target.closest(".schema-remove");
        if (add) {
            const array = add.closest("[data-kind=array]");
            const blank = array.querySelector(":scope > template.schema-blank");
            array.querySelector(":scope > .schema-items").appendChild(blank.content.cloneNode(true));
        } else if (remove) {
            remove.closest("[data-item]").remove();
        } else {
            return;
        }
        renumber();
        soon();
    });
    form.addEventListener("submit", () => {
        form.querySelector("input[name=document]").value = JSON.stringify(build());
    });

    renumber();
    const initial = JSON.parse(document.getElementById("server-errors").textContent);
    if (initial.length) {
        build();
        show(initial);
    }
})();
