// The exports page: plain JavaScript over the public API, no framework, no build step.
"use strict";

(() => {
  // The page is served at <prefix>/page, so the API is the folder it sits in, whatever the prefix.
  const API = new URL(".", window.location.href);
  const ACTIVE = new Set(["queued", "running"]);
  const PRINCIPAL_KEY = "exports.localPrincipal";
  const $ = (id) => document.getElementById(id);
  let principalHeader = null;
  let pollTimer = null;
  let catalog = [];
  const jobElements = new Map();

  // --- identity (local development only) -------------------------------------------------------

  function encodePrincipal(org, user, name, roles) {
    // Mirrors shared/auth.py encode_principal: what App Service Authentication would send.
    const claims = [{ typ: "org_id", val: org }, { typ: "oid", val: user }, { typ: "name", val: name }];
    for (const role of roles) claims.push({ typ: "roles", val: role });
    const json = JSON.stringify({ auth_typ: "aad", claims, name_typ: "name", role_typ: "roles" });
    let binary = "";
    for (const byte of new TextEncoder().encode(json)) binary += String.fromCharCode(byte);
    return btoa(binary);
  }

  function setupPicker() {
    const form = $("picker-form");
    if (!form) return; // not local: App Service Authentication sets the identity
    const saved = JSON.parse(window.localStorage.getItem(PRINCIPAL_KEY) || "null");
    if (saved) {
      form.elements.org.value = saved.org;
      form.elements.user.value = saved.user;
      form.elements.name.value = saved.name;
      for (const box of form.querySelectorAll('input[name="role"]')) box.checked = saved.roles.includes(box.value);
    }
    const apply = () => {
      const roles = [...form.querySelectorAll('input[name="role"]:checked')].map((box) => box.value);
      const chosen = { org: form.elements.org.value.trim(), user: form.elements.user.value.trim(), name: form.elements.name.value.trim(), roles };
      window.localStorage.setItem(PRINCIPAL_KEY, JSON.stringify(chosen));
      principalHeader = encodePrincipal(chosen.org, chosen.user, chosen.name || chosen.user, roles);
    };
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      apply();
      jobElements.clear();
      $("jobs").replaceChildren();
      notify(`Acting as ${form.elements.user.value} of ${form.elements.org.value}.`);
      reloadAll();
    });
    apply();
  }

  // --- API ---------------------------------------------------------------------------------------

  async function api(method, path, body) {
    // X-Requested-With: the API refuses a body-less POST or DELETE without it (no form on another site can send it).
    const headers = { Accept: "application/json", "X-Requested-With": "exports-page" };
    if (principalHeader) headers["X-MS-CLIENT-PRINCIPAL"] = principalHeader;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const response = await fetch(new URL(path, API), {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "same-origin",
      cache: "no-store",
    });
    if (response.status === 204) return null;
    const type = response.headers.get("Content-Type") || "";
    const document = type.includes("json") ? await response.json() : null;
    if (!response.ok) {
      const detail = document && document.detail ? document.detail : response.statusText;
      const error = new Error(detail);
      error.status = response.status;
      throw error;
    }
    return document;
  }

  function notify(message, isError = false) {
    const notice = $("notice");
    notice.textContent = message;
    notice.classList.toggle("error", isError);
    notice.hidden = false;
  }

  // --- the request form --------------------------------------------------------------------------

  function showFor(selector, visible) {
    for (const element of document.querySelectorAll(selector)) element.hidden = !visible;
  }

  function syncForm() {
    const form = $("request-form");
    const tickets = form.elements.dataset.value === "tickets";
    showFor(".cases-only", !tickets);
    showFor(".tickets-only", tickets);
    showFor(".csv-only", form.elements.format.value === "CSV");
    showFor(".not-xlsx", form.elements.format.value !== "XLSX");
  }

  function columnsAreChosen() {
    const form = $("request-form");
    return form.elements.dataset.value === "tickets" || form.elements.exportType.value === "CUSTOM";
  }

  async function loadColumns() {
    const form = $("request-form");
    const params = new URLSearchParams({ dataset: form.elements.dataset.value });
    if (form.elements.dataset.value === "cases") {
      params.set("exportType", form.elements.exportType.value);
      params.set("maxInvestigations", form.elements.maxInvestigations.value || "3");
      params.set("includeInvestigations", String(form.elements.includeInvestigations.checked));
      params.set("includeTaggedFields", String(form.elements.includeTaggedFields.checked));
      params.set("includeOverflow", String(form.elements.includeOverflow.checked));
    }
    const box = $("columns");
    try {
      catalog = (await api("GET", `export-fields/columns?${params}`)).columns;
    } catch (error) {
      catalog = [];
      box.replaceChildren();
      $("columns-hint").textContent = `The column catalog is not available: ${error.message}`;
      return;
    }
    const chosen = columnsAreChosen();
    $("columns-hint").textContent = chosen
      ? "Tick the columns you want, in file order (none ticked: every column)."
      : `${catalog.length} columns, in file order.`;
    box.replaceChildren(
      ...catalog.map((column) => {
        const label = document.createElement("label");
        const input = document.createElement("input");
        input.type = "checkbox";
        input.name = "column";
        input.value = column.name;
        input.disabled = !chosen;
        input.checked = !chosen;
        label.append(input, ` ${column.label} (${column.name})`);
        return label;
      }),
    );
    const sort = $("sort-field");
    if (form.elements.dataset.value === "tickets") {
      const current = sort.value;
      sort.replaceChildren(new Option("Ticket number", ""), ...catalog.map((c) => new Option(c.label, c.name)));
      sort.value = current;
      for (const select of document.querySelectorAll("#filters select.filter-field")) fillFieldOptions(select);
    }
  }

  const OPERATORS = [
    "equals", "notEquals", "contains", "startsWith", "greaterThan", "greaterThanOrEqual",
    "lessThan", "lessThanOrEqual", "in", "before", "after", "isEmpty", "isNotEmpty",
  ];
  let filterCount = 0;

  function fillFieldOptions(select) {
    const current = select.value;
    select.replaceChildren(...catalog.map((column) => new Option(column.label, column.name)));
    if (current) select.value = current;
  }

  function labelled(text, control) {
    const wrap = document.createElement("div");
    wrap.className = "field";
    const label = document.createElement("label");
    label.htmlFor = control.id;
    label.textContent = text;
    wrap.append(label, control);
    return wrap;
  }

  function addFilter() {
    filterCount += 1;
    const n = filterCount;
    const row = document.createElement("div");
    row.className = "filter-row";
    const field = document.createElement("select");
    field.id = `filter-field-${n}`;
    field.className = "filter-field";
    fillFieldOptions(field);
    const operator = document.createElement("select");
    operator.id = `filter-operator-${n}`;
    operator.className = "filter-operator";
    operator.append(...OPERATORS.map((op) => new Option(op, op)));
    const value = document.createElement("input");
    value.type = "text";
    value.id = `filter-value-${n}`;
    value.className = "filter-value";
    const remove = document.createElement("button");
    remove.type = "button";
    remove.textContent = "Remove";
    remove.setAttribute("aria-label", `Remove filter ${n}`);
    remove.addEventListener("click", () => {
      row.remove();
      $("add-filter").focus();
    });
    row.append(labelled(`Filter ${n} field`, field), labelled(`Filter ${n} operator`, operator),
      labelled(`Filter ${n} value`, value), remove);
    $("filters").append(row);
    field.focus();
  }

  function idList(text) {
    const items = text.split(",").map((item) => item.trim()).filter(Boolean);
    return items.length ? items : undefined;
  }

  function requestBody() {
    const form = $("request-form");
    const body = { dataset: form.elements.dataset.value, format: form.elements.format.value };
    if (form.elements.format.value === "CSV") body.csvDelimiter = form.elements.csvDelimiter.value;
    if (form.elements.format.value !== "XLSX" && form.elements.compression.value !== "none") body.compression = form.elements.compression.value;
    if (form.elements.timeZone.value.trim()) body.timeZone = form.elements.timeZone.value.trim();
    if (body.dataset === "cases") {
      body.exportType = form.elements.exportType.value;
      body.maxInvestigations = Number(form.elements.maxInvestigations.value || "3");
      body.includeInvestigations = form.elements.includeInvestigations.checked;
      body.includeTaggedFields = form.elements.includeTaggedFields.checked;
      body.includeOverflow = form.elements.includeOverflow.checked;
      if (form.elements.dateStart.value || form.elements.dateEnd.value) {
        body.dateRange = { start: form.elements.dateStart.value || "1900-01-01", end: form.elements.dateEnd.value || "9999-12-31" };
      }
      const statuses = [...form.querySelectorAll('input[name="status"]:checked')].map((box) => box.value);
      if (statuses.length) body.statuses = statuses;
      for (const name of ["categories", "businessUnits", "locations"]) {
        const ids = idList(form.elements[name].value);
        if (ids) body[name] = ids;
      }
    } else {
      if (form.elements.searchTerm.value.trim()) body.searchTerm = form.elements.searchTerm.value.trim();
      if (form.elements.sortField.value) {
        body.sortField = form.elements.sortField.value;
        body.sortDirection = form.elements.sortDirection.value;
      }
      body.filters = [...document.querySelectorAll("#filters .filter-row")].map((row) => {
        const filter = {
          field: row.querySelector(".filter-field").value,
          operator: row.querySelector(".filter-operator").value,
        };
        const value = row.querySelector(".filter-value").value;
        if (value !== "") filter.value = value;
        return filter;
      });
    }
    if (columnsAreChosen()) {
      const columns = [...document.querySelectorAll('#columns input[name="column"]:checked')].map((box) => box.value);
      if (columns.length) body.columns = columns;
    }
    return body;
  }

  async function submitRequest(event) {
    event.preventDefault();
    const button = $("request-button");
    button.disabled = true;
    try {
      const job = await api("POST", "exports", requestBody());
      notify(`Export ${job.fileName} requested.`);
      await refreshJobs();
    } catch (error) {
      notify(`The export was not requested: ${error.message}`, true);
    } finally {
      button.disabled = false;
    }
  }

  // --- the jobs list -----------------------------------------------------------------------------

  function formatBytes(bytes) {
    if (bytes === null || bytes === undefined) return "–";
    const units = ["bytes", "KB", "MB", "GB"];
    let value = bytes;
    let unit = 0;
    while (value >= 1024 && unit < units.length - 1) {
      value /= 1024;
      unit += 1;
    }
    return unit === 0 ? `${value} bytes` : `${value.toFixed(1)} ${units[unit]}`;
  }

  function formatTime(iso) {
    return iso ? new Date(iso).toLocaleString() : "–";
  }

  function button(text, label, onClick) {
    const element = document.createElement("button");
    element.type = "button";
    element.textContent = text;
    element.setAttribute("aria-label", label);
    element.addEventListener("click", onClick);
    return element;
  }

  function createJobElement(job) {
    const item = document.createElement("li");
    item.className = "job";
    item.dataset.jobId = job.jobId;
    const head = document.createElement("div");
    head.className = "job-head";
    const title = document.createElement("span");
    title.className = "job-title";
    const badge = document.createElement("span");
    badge.className = "badge";
    head.append(title, badge);

    const progress = document.createElement("div");
    progress.className = "progress";
    const bar = document.createElement("div");
    bar.className = "bar";
    bar.setAttribute("role", "progressbar");
    bar.setAttribute("aria-valuemin", "0");
    bar.setAttribute("aria-valuemax", "100");
    bar.setAttribute("aria-label", `Progress of ${job.fileName}`);
    bar.append(document.createElement("span"));
    const percent = document.createElement("span");
    percent.className = "percent";
    progress.append(bar, percent);

    const details = document.createElement("dl");
    const error = document.createElement("p");
    error.className = "error";
    error.setAttribute("role", "alert");

    const actions = document.createElement("div");
    actions.className = "actions";
    const download = button("Download", `Download ${job.fileName}`, () => downloadJob(job.jobId));
    download.className = "download";
    const manifest = button("Manifest", `Download the manifest of ${job.fileName}`, () => downloadManifest(job.jobId));
    manifest.className = "manifest";
    const cancel = button("Cancel", `Cancel ${job.fileName}`, () => cancelJob(job.jobId));
    cancel.className = "cancel";
    actions.append(download, manifest, cancel);
    item.append(head, progress, details, error, actions);
    return item;
  }

  function updateJobElement(item, job) {
    item.dataset.status = job.status;
    const kind = job.dataset === "tickets" ? "tickets" : `cases ${job.exportType}`;
    item.querySelector(".job-title").textContent = `${job.fileName} · ${kind} ${job.format}`;
    const badge = item.querySelector(".badge");
    badge.textContent = job.status;
    badge.className = `badge ${job.status}`;
    const active = ACTIVE.has(job.status);
    const shown = job.status === "completed" ? 100 : job.progress;
    const bar = item.querySelector(".bar");
    bar.setAttribute("aria-valuenow", String(shown));
    bar.setAttribute("aria-valuetext", `${shown} %${job.stage ? `, ${job.stage}` : ""}`);
    bar.firstElementChild.style.width = `${shown}%`;
    item.querySelector(".percent").textContent = `${shown} %${active && job.stage ? ` · ${job.stage}` : ""}`;
    item.querySelector(".progress").hidden = !(active || job.status === "completed");

    const rows = job.totalRows === null || job.totalRows === undefined
      ? `${job.processedRows}` : `${job.processedRows} of ${job.totalRows}`;
    const facts = [
      ["Status", active && job.stage && job.stage !== job.status ? `${job.status} (${job.stage})` : job.status],
      ["Rows", rows],
      ["Size", formatBytes(job.fileSizeBytes)],
      ["Requested", formatTime(job.createdAt)],
      ["Expires", formatTime(job.expiresAt)],
    ];
    if (job.manifest) {
      // What `sha256sum` prints for the downloaded file: the manifest's proof that it is the file written.
      facts.push(["SHA-256", job.manifest.file.sha256]);
    }
    if (job.warnings) {
      // Source values of the wrong type, exported as their text: say how many and where the first one is.
      const first = (job.warningSamples || [])[0];
      const where = first ? ` (first: record ${first.record}, ${first.column}: ${first.found}, expected ${first.expected})` : "";
      facts.push(["Warnings", `${job.warnings} value${job.warnings === 1 ? "" : "s"} exported as text${where}`]);
    }
    item.querySelector("dl").replaceChildren(
      ...facts.flatMap(([term, value]) => {
        const dt = document.createElement("dt");
        dt.textContent = term;
        const dd = document.createElement("dd");
        dd.textContent = value;
        return [dt, dd];
      }),
    );
    const error = item.querySelector(".error");
    error.textContent = job.errorMessage ? `Failed: ${job.errorMessage}` : "";
    error.hidden = !job.errorMessage;
    item.querySelector(".download").hidden = job.status !== "completed";
    item.querySelector(".manifest").hidden = !job.manifestSha256;
    item.querySelector(".cancel").hidden = !active;
  }

  async function refreshJobs() {
    window.clearTimeout(pollTimer);
    let page;
    try {
      page = await api("GET", "exports?pageSize=50");
    } catch (error) {
      notify(`Your exports could not be listed: ${error.message}`, true);
      pollTimer = window.setTimeout(refreshJobs, 5000);
      return;
    }
    const list = $("jobs");
    const seen = new Set();
    page.items.forEach((job, index) => {
      seen.add(job.jobId);
      let item = jobElements.get(job.jobId);
      if (!item) {
        item = createJobElement(job);
        jobElements.set(job.jobId, item);
      }
      // Elements are kept and moved, never rebuilt, so keyboard focus survives a refresh.
      if (list.children[index] !== item) list.insertBefore(item, list.children[index] || null);
      updateJobElement(item, job);
    });
    for (const [jobId, item] of jobElements) {
      if (!seen.has(jobId)) {
        item.remove();
        jobElements.delete(jobId);
      }
    }
    $("jobs-empty").hidden = page.items.length > 0;
    const busy = page.items.some((job) => ACTIVE.has(job.status));
    pollTimer = window.setTimeout(refreshJobs, busy ? 1000 : 10000);
  }

  async function downloadJob(jobId) {
    try {
      // A fresh, short-lived link each time; the browser saves the file (Content-Disposition: attachment).
      const job = await api("GET", `exports/${encodeURIComponent(jobId)}`);
      if (!job.downloadUrl) throw new Error(`the export is ${job.status}`);
      const link = document.createElement("a");
      link.href = job.downloadUrl;
      link.download = job.fileName;
      link.rel = "noopener";
      document.body.append(link);
      link.click();
      link.remove();
      notify(`Downloading ${job.fileName}.`);
    } catch (error) {
      notify(`The file could not be downloaded: ${error.message}`, true);
    }
  }

  async function downloadManifest(jobId) {
    try {
      const job = await api("GET", `exports/${encodeURIComponent(jobId)}`);
      if (!job.manifestUrl) throw new Error(`the export is ${job.status}`);
      const link = document.createElement("a");
      link.href = job.manifestUrl;
      link.download = `${job.fileName.split(".")[0]}.manifest.json`;
      link.rel = "noopener";
      document.body.append(link);
      link.click();
      link.remove();
      notify(`Downloading the manifest of ${job.fileName}.`);
    } catch (error) {
      notify(`The manifest could not be downloaded: ${error.message}`, true);
    }
  }

  async function cancelJob(jobId) {
    try {
      const job = await api("POST", `exports/${encodeURIComponent(jobId)}/cancel`);
      notify(`Export ${job.fileName} cancelled.`);
      await refreshJobs();
      $("jobs-heading").focus();
    } catch (error) {
      notify(`The export was not cancelled: ${error.message}`, true);
    }
  }

  // --- tagged fields (administrators) ------------------------------------------------------------

  async function loadTags() {
    const panel = $("tags-panel");
    let tags;
    try {
      tags = (await api("GET", "export-fields/tags")).items;
    } catch (error) {
      // Only administrators see the panel; everyone else gets 403 here.
      panel.hidden = true;
      return;
    }
    panel.hidden = false;
    const bySlot = new Map(tags.map((tag) => [tag.tagSlot, tag]));
    const rows = [];
    for (let slot = 1; slot <= 20; slot += 1) {
      const tag = bySlot.get(slot);
      const row = document.createElement("tr");
      const cells = tag
        ? [slot, tag.columnName, tag.displayLabel, `${tag.sourceEntityType} ${tag.sourceFieldPath}`, tag.dataType]
        : [slot, "(free)", "", "", ""];
      for (const value of cells) {
        const cell = document.createElement("td");
        cell.textContent = String(value);
        row.append(cell);
      }
      const actions = document.createElement("td");
      actions.className = "actions";
      actions.append(button(tag ? "Edit" : "Create", `${tag ? "Edit" : "Create"} slot ${slot}`, () => editTag(slot, tag)));
      if (tag) actions.append(button("Delete", `Delete slot ${slot}`, () => deleteTag(slot)));
      row.append(actions);
      rows.push(row);
    }
    $("tags-table").tBodies[0].replaceChildren(...rows);
  }

  function editTag(slot, tag) {
    const form = $("tag-form");
    form.elements.tagSlot.value = String(slot);
    form.elements.sourceEntityType.value = tag ? tag.sourceEntityType : "CASE";
    form.elements.sourceFieldPath.value = tag ? tag.sourceFieldPath : "";
    form.elements.templateId.value = tag && tag.templateId ? tag.templateId : "";
    form.elements.columnName.value = tag ? tag.columnName : "";
    form.elements.displayLabel.value = tag ? tag.displayLabel : "";
    form.elements.dataType.value = tag ? tag.dataType : "TEXT";
    form.elements.formatPattern.value = tag && tag.formatPattern ? tag.formatPattern : "";
    $("tag-form-heading").textContent = `Edit slot ${slot}`;
    form.elements.sourceFieldPath.focus();
  }

  async function saveTag(event) {
    event.preventDefault();
    const form = $("tag-form");
    const slot = Number(form.elements.tagSlot.value);
    const body = {
      sourceEntityType: form.elements.sourceEntityType.value,
      sourceFieldPath: form.elements.sourceFieldPath.value.trim(),
      tagSlot: slot,
      columnName: form.elements.columnName.value.trim(),
      displayLabel: form.elements.displayLabel.value.trim(),
      dataType: form.elements.dataType.value,
    };
    if (form.elements.templateId.value.trim()) body.templateId = form.elements.templateId.value.trim();
    if (form.elements.formatPattern.value.trim()) body.formatPattern = form.elements.formatPattern.value.trim();
    try {
      await api("PUT", `export-fields/tags/${slot}`, body);
      notify(`Slot ${slot} saved as ${body.columnName}.`);
      await Promise.all([loadTags(), loadColumns()]);
    } catch (error) {
      notify(`The tag was not saved: ${error.message}`, true);
    }
  }

  async function deleteTag(slot) {
    if (!window.confirm(`Delete the tag in slot ${slot}? Exports already requested keep it.`)) return;
    try {
      await api("DELETE", `export-fields/tags/${slot}`);
      notify(`Slot ${slot} deleted.`);
      await Promise.all([loadTags(), loadColumns()]);
      $("tags-heading").focus();
    } catch (error) {
      notify(`The tag was not deleted: ${error.message}`, true);
    }
  }

  async function previewTags(event) {
    event.preventDefault();
    const caseId = $("preview-case").value.trim();
    const table = $("preview-table");
    try {
      const preview = await api("GET", `export-fields/tags/preview?${new URLSearchParams({ caseId })}`);
      table.tBodies[0].replaceChildren(
        ...preview.values.map((value) => {
          const row = document.createElement("tr");
          // A field that cannot be read (its custom-field JSON is broken) shows why instead of a value.
          const typed = value.problem ?? JSON.stringify(value.value);
          for (const text of [value.tagSlot, value.columnName, JSON.stringify(value.rawValue), typed]) {
            const cell = document.createElement("td");
            cell.textContent = String(text);
            row.append(cell);
          }
          return row;
        }),
      );
      table.hidden = false;
    } catch (error) {
      table.hidden = true;
      notify(`No preview: ${error.message}`, true);
    }
  }

  // --- scheduled exports: the caller's schedules, made from the request form's values ---------------

  function recurrenceWords(recurrence) {
    const zone = recurrence.timeZone || "UTC";
    if (recurrence.frequency === "cron") return `NCRONTAB ${recurrence.expression} (${zone})`;
    const when = {
      daily: "Every day",
      weekly: `Every ${(recurrence.daysOfWeek || []).join(", ")}`,
      monthly: `Monthly on day ${recurrence.dayOfMonth}`,
    }[recurrence.frequency];
    return `${when} at ${recurrence.time} (${zone})`;
  }

  function syncScheduleForm() {
    const frequency = $("schedule-form").elements.frequency.value;
    showFor("#schedule-form .not-cron", frequency !== "cron");
    showFor("#schedule-form .cron-only", frequency === "cron");
    showFor("#schedule-form .weekly-only", frequency === "weekly");
    showFor("#schedule-form .monthly-only", frequency === "monthly");
  }

  function scheduleRecurrence() {
    const form = $("schedule-form");
    const frequency = form.elements.frequency.value;
    const recurrence = { frequency, timeZone: form.elements.timeZone.value.trim() || "UTC" };
    if (frequency === "cron") {
      recurrence.expression = form.elements.expression.value.trim();
      return recurrence;
    }
    recurrence.time = form.elements.time.value;
    if (frequency === "weekly") {
      recurrence.daysOfWeek = [...form.querySelectorAll('input[name="day"]:checked')].map((box) => box.value);
    }
    if (frequency === "monthly") recurrence.dayOfMonth = Number(form.elements.dayOfMonth.value);
    return recurrence;
  }

  function scheduleElement(schedule) {
    const item = document.createElement("li");
    item.className = "schedule";
    item.dataset.scheduleId = schedule.scheduleId;
    const head = document.createElement("div");
    head.className = "job-head";
    const title = document.createElement("span");
    title.className = "job-title";
    title.textContent = schedule.name;
    const badge = document.createElement("span");
    badge.className = `badge ${schedule.status === "active" ? "running" : "cancelled"}`;
    badge.textContent = schedule.status;
    head.append(title, badge);
    const facts = document.createElement("dl");
    const last = schedule.lastRun;
    const lastText = !last ? "–" : last.outcome === "created"
      ? `${formatTime(last.runAt)}: export requested` : `${formatTime(last.runAt)}: refused (${last.detail})`;
    for (const [term, value] of [["When", recurrenceWords(schedule.recurrence)],
      ["Next run", schedule.status === "active" ? formatTime(schedule.nextRunAt) : "paused"],
      ["Export", `${schedule.export.dataset} ${schedule.export.format}`], ["Last run", lastText]]) {
      const dt = document.createElement("dt");
      dt.textContent = term;
      const dd = document.createElement("dd");
      dd.textContent = value;
      facts.append(dt, dd);
    }
    const actions = document.createElement("div");
    actions.className = "actions";
    const id = encodeURIComponent(schedule.scheduleId);
    const toggle = schedule.status === "active" ? "pause" : "resume";
    actions.append(
      button(toggle === "pause" ? "Pause" : "Resume", `${toggle === "pause" ? "Pause" : "Resume"} ${schedule.name}`,
        () => changeSchedule("POST", `export-schedules/${id}/${toggle}`, `Schedule ${schedule.name} ${toggle}d.`)),
      button("Delete", `Delete schedule ${schedule.name}`,
        () => changeSchedule("DELETE", `export-schedules/${id}`, `Schedule ${schedule.name} deleted.`)),
    );
    item.append(head, facts, actions);
    return item;
  }

  async function refreshSchedules() {
    try {
      const page = await api("GET", "export-schedules?pageSize=50");
      $("schedules").replaceChildren(...page.items.map(scheduleElement));
      $("schedules-empty").hidden = page.items.length > 0;
    } catch (error) {
      notify(`Your schedules could not be loaded: ${error.message}`, true);
    }
  }

  async function changeSchedule(method, path, done) {
    try {
      await api(method, path);
      notify(done);
    } catch (error) {
      notify(`The schedule was not changed: ${error.message}`, true);
    }
    await refreshSchedules();
  }

  async function submitSchedule(event) {
    event.preventDefault();
    const form = $("schedule-form");
    const submit = $("schedule-button");
    submit.disabled = true;
    try {
      const body = { name: form.elements.name.value.trim(), export: requestBody(), recurrence: scheduleRecurrence() };
      const schedule = await api("POST", "export-schedules", body);
      notify(`Schedule ${schedule.name} created; first run ${formatTime(schedule.nextRunAt)}.`);
      await refreshSchedules();
    } catch (error) {
      notify(`The schedule was not created: ${error.message}`, true);
    } finally {
      submit.disabled = false;
    }
  }

  function setupSchedules() {
    const form = $("schedule-form");
    form.elements.timeZone.value = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
    form.elements.frequency.addEventListener("change", syncScheduleForm);
    form.addEventListener("submit", submitSchedule);
    syncScheduleForm();
  }

  // --- start -------------------------------------------------------------------------------------

  function reloadAll() {
    syncForm();
    loadColumns();
    refreshJobs();
    loadTags();
    refreshSchedules();
  }

  // The browser's IANA zone: times in the file read as the clock on the wall, and dates are local days.
  function browserZone() {
    try {
      return Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
    } catch (error) {
      return "UTC";
    }
  }

  function start() {
    setupPicker();
    const form = $("request-form");
    form.elements.timeZone.value = browserZone();
    form.addEventListener("submit", submitRequest);
    for (const name of ["dataset", "exportType", "format", "maxInvestigations", "includeInvestigations",
      "includeTaggedFields", "includeOverflow"]) {
      form.elements[name].addEventListener("change", () => {
        syncForm();
        if (name !== "format") loadColumns();
      });
    }
    $("add-filter").addEventListener("click", addFilter);
    $("tag-form").addEventListener("submit", saveTag);
    $("preview-form").addEventListener("submit", previewTags);
    setupSchedules();
    reloadAll();
  }

  document.addEventListener("DOMContentLoaded", start);
})();
