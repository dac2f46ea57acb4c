/**
 * The operator console: four screens over the admin API (fleet and rollouts, licenses,
 * blacklist, audit trail). Preact with htm's tagged templates, loaded as ES modules with
 * no build step (docs/console.md). Aggregates first; every list is paginated.
 */
import { h, render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import htm from 'htm';
import { call, withQuery } from './api.js';
import { ago, channelState, chartBars, expiryText, failureRate, haltSummary, promoteSummary, share } from './format.js';

const html = htm.bind(h);
const enc = encodeURIComponent;

/**
 * Loads `load()` now and whenever `deps` change; `reload` loads again. `loading` is true
 * from the very render in which the deps change (not only once the effect has run), and
 * an answer to an older load is dropped, so a quick second change cannot show stale data.
 */
function useLoad(load, deps) {
  const [tick, setTick] = useState(0);
  const key = JSON.stringify([...deps, tick]);
  const [state, setState] = useState({});
  useEffect(() => {
    let live = true;
    load().then(
      (data) => live && setState({ data, key }),
      (error) => live && setState({ error: error.message, key }),
    );
    return () => {
      live = false;
    };
  }, [key]);
  return { data: state.data, error: state.error, loading: state.key !== key, reload: () => setTick((t) => t + 1) };
}

/**
 * A paginated list: `fetchPage(cursor)` answers `{ [key]: items, nextCursor }`. Keeps the
 * cursors of the pages seen, so Previous goes back without the API keeping any state.
 */
function usePaged(fetchPage, key, deps) {
  const [cursors, setCursors] = useState([undefined]);
  useEffect(() => setCursors([undefined]), deps);
  const cursor = cursors[cursors.length - 1];
  const page = useLoad(() => fetchPage(cursor), [cursor, ...deps]);
  return {
    ...page,
    items: page.data?.[key] ?? [],
    number: cursors.length,
    // None while a page loads: a second click would skip a page.
    next: page.data?.nextCursor && !page.loading ? () => setCursors([...cursors, page.data.nextCursor]) : undefined,
    previous: cursors.length > 1 && !page.loading ? () => setCursors(cursors.slice(0, -1)) : undefined,
  };
}

function ErrorLine({ error }) {
  return error ? html`<div class="error" role="alert">${error}</div>` : null;
}

function Notice({ text }) {
  return text ? html`<div class="notice" role="status">${text}</div>` : null;
}

function Pager({ list }) {
  if (!list.next && !list.previous) return null;
  return html`<div class="pager">
    <button disabled=${!list.previous} onClick=${list.previous}>Previous</button>
    <span class="muted">page ${list.number}</span>
    <button disabled=${!list.next} onClick=${list.next}>Next</button>
  </div>`;
}

/** A confirmation that names what will happen; `run` does it, and its failure shows here. */
function Confirm({ ask, onClose }) {
  return ask ? html`<${ConfirmDialog} ask=${ask} onClose=${onClose} />` : null;
}

/** The dialog itself: mounted per question, so its busy and error states start afresh. */
function ConfirmDialog({ ask, onClose }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(undefined);
  const go = async () => {
    setBusy(true);
    try {
      await ask.run();
      onClose();
    } catch (e) {
      setError(e.message);
      setBusy(false);
    }
  };
  return html`<div class="confirm" role="dialog" aria-modal="true" aria-label=${ask.title}>
    <div>
      <h2>${ask.title}</h2>
      <p data-testid="confirm-text">${ask.text}</p>
      <${ErrorLine} error=${error} />
      <div class="actions">
        <button onClick=${onClose} disabled=${busy}>Cancel</button>
        <button class=${ask.danger ? 'danger' : 'primary'} onClick=${go} disabled=${busy}>${ask.confirm}</button>
      </div>
    </div>
  </div>`;
}

/** The version distribution as horizontal bars (plain SVG): one row per version. */
function VersionChart({ versions }) {
  const bars = chartBars(versions, 420);
  const row = 26;
  return html`<svg role="img" aria-label="Agents per version" width="640" height=${bars.length * row + 4} data-testid="fleet-chart">
    ${bars.map(
      (b, i) => html`<g data-version=${b.version} data-agents=${b.agents} transform=${`translate(0 ${i * row})`}>
        <title>${b.version}: ${b.agents} agents</title>
        <text x="0" y="17">${b.version}</text>
        <rect class="bar" x="110" y="4" height="18" width=${b.width} rx="2" />
        <text x=${116 + b.width} y="17">${b.agents}</text>
      </g>`,
    )}
  </svg>`;
}

function ChannelRow({ channel, versions, onAsk }) {
  const [editing, setEditing] = useState(false);
  const [version, setVersion] = useState(channel.version);
  const [percent, setPercent] = useState(String(channel.percent >= 100 ? 100 : Math.min(100, Math.max(10, channel.percent * 2))));
  const path = `channels/${enc(channel.product)}/${enc(channel.channel)}`;
  const review = (e) => {
    e.preventDefault();
    const n = Number(percent);
    onAsk({
      title: 'Promote',
      text: promoteSummary(channel, version, n),
      confirm: `Promote to ${n}%`,
      run: () => call('POST', `${path}/promote`, { version, percent: n }),
      done: `Promoted ${channel.product} ${version} on ${channel.channel} to ${n}%.`,
    });
    setEditing(false);
  };
  const halt = () =>
    onAsk({ title: 'Halt', text: haltSummary(channel), confirm: 'Halt', danger: true, run: () => call('POST', `${path}/halt`), done: `Halted ${channel.channel} of ${channel.product}.` });
  return html`<tr data-channel=${channel.channel}>
    <td>${channel.channel}</td>
    <td data-testid="head">${channel.version}</td>
    <td>${channel.previousVersion ?? html`<span class="muted">none</span>`}</td>
    <td class="num" data-testid="percent">${channel.percent}%</td>
    <td class=${channel.status === 'halted' ? 'halted' : ''} data-testid="state">${channelState(channel)}</td>
    <td class="muted">${ago(channel.updatedAt)} by ${channel.updatedBy}</td>
    <td>
      ${editing
        ? html`<form class="inline" onSubmit=${review}>
            <label>version<input name="version" list="versions" value=${version} onInput=${(e) => setVersion(e.target.value)} required size="8" /></label>
            <label>percent<input name="percent" type="number" min="0" max="100" value=${percent} onInput=${(e) => setPercent(e.target.value)} required /></label>
            <datalist id="versions">${versions.map((v) => html`<option value=${v.version} />`)}</datalist>
            <button class="primary" type="submit">Review…</button>
            <button type="button" onClick=${() => setEditing(false)}>Cancel</button>
          </form>`
        : html`<button onClick=${() => setEditing(true)}>Promote…</button> ${channel.status === 'active' ? html`<button class="danger" onClick=${halt}>Halt…</button>` : null}`}
    </td>
  </tr>`;
}

function ProductFleet({ product }) {
  const fleet = useLoad(() => call('GET', `fleet/${enc(product)}`), [product]);
  const [ask, setAsk] = useState(undefined);
  const [notice, setNotice] = useState(undefined);
  if (fleet.error) return html`<${ErrorLine} error=${fleet.error} />`;
  if (!fleet.data) return html`<p class="muted">Loading ${product}…</p>`;
  const { versions, channels } = fleet.data;
  const total = versions.reduce((n, v) => n + v.agents, 0);
  const onAsk = (next) => setAsk({ ...next, run: async () => (await next.run(), setNotice(next.done), fleet.reload()) });
  return html`
    <${Notice} text=${notice} />
    <section data-testid="fleet">
      <h2>${product}: <span data-testid="fleet-total">${total}</span> agents reporting</h2>
      ${versions.length === 0
        ? html`<p class="empty">No agent of ${product} has reported yet: the chart fills in as agents report.</p>`
        : html`<${VersionChart} versions=${versions} />
          <table>
            <thead><tr><th>version</th><th class="num">agents</th><th class="num">share</th><th class="num">reports</th><th class="num">failure rate</th><th>last report</th></tr></thead>
            <tbody>${versions.map((v) => {
              const rate = failureRate(v);
              return html`<tr data-version=${v.version}>
                <td>${v.version}</td><td class="num">${v.agents}</td><td class="num">${share(v.agents, total)}</td>
                <td class="num">${rate.reports}</td><td class=${`num ${rate.high ? 'high' : ''}`} data-testid="failure-rate">${rate.text}</td>
                <td class="muted">${ago(v.lastReportAt)}</td>
              </tr>`;
            })}</tbody>
          </table>`}
    </section>
    <section data-testid="channels">
      <h2>Channels</h2>
      ${channels.length === 0
        ? html`<p class="empty">No channel for ${product} yet: publish with --channel, or promote a version.</p>`
        : html`<table>
            <thead><tr><th>channel</th><th>head</th><th>previous</th><th class="num">wave</th><th>state</th><th>last change</th><th></th></tr></thead>
            <tbody>${channels.map((c) => html`<${ChannelRow} key=${c.channel} channel=${c} versions=${versions} onAsk=${onAsk} />`)}</tbody>
          </table>`}
    </section>
    <${Confirm} ask=${ask} onClose=${() => setAsk(undefined)} />`;
}

function FleetScreen() {
  const products = useLoad(() => call('GET', 'products'), []);
  const [chosen, setChosen] = useState(undefined);
  const [typed, setTyped] = useState('');
  const list = products.data?.products ?? [];
  const product = chosen ?? list[0];
  return html`
    <section>
      <form class="inline" onSubmit=${(e) => (e.preventDefault(), typed && setChosen(typed.trim()))}>
        <label>product
          <select data-testid="product" value=${product ?? ''} onChange=${(e) => setChosen(e.target.value)}>
            ${list.map((p) => html`<option value=${p}>${p}</option>`)}
            ${product && !list.includes(product) ? html`<option value=${product}>${product}</option>` : null}
          </select>
        </label>
        <label>or another product<input value=${typed} onInput=${(e) => setTyped(e.target.value)} placeholder="name" /></label>
        <button type="submit">Show</button>
      </form>
      <${ErrorLine} error=${products.error} />
      ${products.data && list.length === 0 && !product ? html`<p class="empty">No product published yet: signet publish --product P --version V --dir DIR.</p>` : null}
    </section>
    ${product ? html`<${ProductFleet} key=${product} product=${product} />` : null}`;
}

function SeatHolders({ license }) {
  const list = usePaged((cursor) => call('GET', withQuery(`licenses/${license.licenseId}/agents`, { cursor })), 'agents', [license.licenseId]);
  return html`<section data-testid="seat-holders" aria-busy=${String(list.loading)}>
    <h2>Seat holders of ${license.customer} (least recently seen first)</h2>
    <${ErrorLine} error=${list.error} />
    ${list.data && list.items.length === 0
      ? html`<p class="empty">No agent holds a seat of this license.</p>`
      : html`<table>
          <thead><tr><th>agent</th><th>machine</th><th>product</th><th>version</th><th>last seen</th><th>registered</th></tr></thead>
          <tbody>${list.items.map(
            (a) => html`<tr><td><code>${a.agentId}</code></td><td>${a.machineId}</td><td>${a.product}</td><td>${a.installedVersion ?? html`<span class="muted">none yet</span>`}</td><td>${ago(a.lastSeenAt)}</td><td class="muted">${a.registeredAt.slice(0, 10)}</td></tr>`,
          )}</tbody>
        </table>`}
    <${Pager} list=${list} />
  </section>`;
}

function CreateLicense({ onCreated }) {
  const [form, setForm] = useState({ customer: '', products: '', seats: '10', expires: '' });
  const [error, setError] = useState(undefined);
  const set = (name) => (e) => setForm({ ...form, [name]: e.target.value });
  const submit = async (e) => {
    e.preventDefault();
    setError(undefined);
    try {
      const products = form.products.split(',').map((p) => p.trim()).filter(Boolean);
      const created = await call('POST', 'licenses', { customer: form.customer, products, seats: Number(form.seats), expires: form.expires });
      setForm({ customer: '', products: '', seats: '10', expires: '' });
      onCreated(created);
    } catch (err) {
      setError(err.message);
    }
  };
  return html`<section data-testid="create-license">
    <h2>New license</h2>
    <${ErrorLine} error=${error} />
    <form class="inline" onSubmit=${submit}>
      <label>customer<input name="customer" value=${form.customer} onInput=${set('customer')} required /></label>
      <label>products (comma-separated)<input name="products" value=${form.products} onInput=${set('products')} required /></label>
      <label>seats<input name="seats" type="number" min="1" value=${form.seats} onInput=${set('seats')} required /></label>
      <label>expires<input name="expires" type="date" value=${form.expires} onInput=${set('expires')} required /></label>
      <button class="primary" type="submit">Create</button>
    </form>
  </section>`;
}

function LicensesScreen() {
  const [created, setCreated] = useState(undefined);
  const [shown, setShown] = useState(undefined);
  const [ask, setAsk] = useState(undefined);
  const [notice, setNotice] = useState(undefined);
  const [generation, setGeneration] = useState(0);
  const list = usePaged((cursor) => call('GET', withQuery('licenses', { cursor })), 'licenses', [generation]);
  const change = (license, action) => {
    const agents = `${license.seatsUsed} seat${license.seatsUsed === 1 ? '' : 's'}`;
    const text =
      action === 'suspend'
        ? `Suspend the license of ${license.customer}: its agents (${agents}) are refused with LICENSE_SUSPENDED from their next call, and no new agent registers, until it is resumed.`
        : `Resume the license of ${license.customer}: its agents (${agents}) are served again from their next call.`;
    setAsk({
      title: action === 'suspend' ? 'Suspend license' : 'Resume license',
      text,
      confirm: action === 'suspend' ? 'Suspend' : 'Resume',
      danger: action === 'suspend',
      run: async () => {
        await call('POST', `licenses/${license.licenseId}/${action}`);
        setNotice(`${action === 'suspend' ? 'Suspended' : 'Resumed'} the license of ${license.customer}.`);
        list.reload();
      },
    });
  };
  return html`
    <${CreateLicense} onCreated=${(c) => (setCreated(c), setGeneration(generation + 1))} />
    ${created
      ? html`<div class="notice" role="status" data-testid="new-key">License created for ${created.license.customer}. Its key, shown only now, store it: <span class="key">${created.licenseKey}</span></div>`
      : null}
    <${Notice} text=${notice} />
    <section data-testid="licenses" aria-busy=${String(list.loading)}>
      <h2>Licenses (newest first)</h2>
      <${ErrorLine} error=${list.error} />
      ${list.data && list.items.length === 0
        ? html`<p class="empty">No licenses yet: create one above.</p>`
        : html`<table>
            <thead><tr><th>customer</th><th>products</th><th>seats used</th><th>status</th><th>expires</th><th></th></tr></thead>
            <tbody>${list.items.map(
              (l) => html`<tr data-license=${l.licenseId}>
                <td>${l.customer}</td><td>${l.products.join(', ')}</td>
                <td data-testid="seats">${l.seatsUsed} of ${l.seats}<span class="seats"><span style=${{ width: `${Math.min(100, (100 * l.seatsUsed) / l.seats)}%` }}></span></span></td>
                <td data-testid="status" class=${l.status === 'active' ? '' : 'halted'}>${l.status}</td>
                <td>${expiryText(l.expiresAt)}</td>
                <td>
                  <button onClick=${() => setShown(l)}>Agents</button>
                  ${l.status === 'active' ? html` <button class="danger" onClick=${() => change(l, 'suspend')}>Suspend…</button>` : null}
                  ${l.status === 'suspended' ? html` <button onClick=${() => change(l, 'resume')}>Resume…</button>` : null}
                </td>
              </tr>`,
            )}</tbody>
          </table>`}
      <${Pager} list=${list} />
    </section>
    ${shown ? html`<${SeatHolders} key=${shown.licenseId} license=${shown} />` : null}
    <${Confirm} ask=${ask} onClose=${() => setAsk(undefined)} />`;
}

function BlacklistScreen() {
  const [machineId, setMachineId] = useState('');
  const [reason, setReason] = useState('');
  const [error, setError] = useState(undefined);
  const [notice, setNotice] = useState(undefined);
  const [ask, setAsk] = useState(undefined);
  const [generation, setGeneration] = useState(0);
  const list = usePaged((cursor) => call('GET', withQuery('blacklist', { cursor })), 'entries', [generation]);
  const add = async (e) => {
    e.preventDefault();
    setError(undefined);
    try {
      const id = machineId.trim();
      await call('PUT', `blacklist/${enc(id)}`, reason.trim() ? { reason: reason.trim() } : {});
      setNotice(`Blacklisted ${id}: its agents are refused with COMPUTER_BLACKLISTED from their next call.`);
      setMachineId('');
      setReason('');
      setGeneration(generation + 1);
    } catch (err) {
      setError(err.message);
    }
  };
  const remove = (entry) =>
    setAsk({
      title: 'Remove from the blacklist',
      text: `Remove ${entry.machineId} from the blacklist: its agents are served again from their next call (one that was revoked stays revoked).`,
      confirm: 'Remove',
      run: async () => {
        await call('DELETE', `blacklist/${enc(entry.machineId)}`);
        setNotice(`Removed ${entry.machineId} from the blacklist.`);
        setGeneration(generation + 1);
      },
    });
  return html`
    <section>
      <h2>Blacklist a computer</h2>
      <${ErrorLine} error=${error} />
      <form class="inline" onSubmit=${add}>
        <label>machine id<input name="machineId" value=${machineId} onInput=${(e) => setMachineId(e.target.value)} required /></label>
        <label>reason<input name="reason" value=${reason} onInput=${(e) => setReason(e.target.value)} size="40" /></label>
        <button class="danger" type="submit">Blacklist</button>
      </form>
    </section>
    <${Notice} text=${notice} />
    <section data-testid="blacklist" aria-busy=${String(list.loading)}>
      <h2>Blacklisted computers</h2>
      <${ErrorLine} error=${list.error} />
      ${list.data && list.items.length === 0
        ? html`<p class="empty">The blacklist is empty.</p>`
        : html`<table>
            <thead><tr><th>machine id</th><th>reason</th><th>added</th><th>by</th><th></th></tr></thead>
            <tbody>${list.items.map(
              (b) => html`<tr data-machine=${b.machineId}><td>${b.machineId}</td><td>${b.reason ?? html`<span class="muted">none given</span>`}</td><td>${ago(b.addedAt)}</td><td class="muted">${b.addedBy}</td><td><button onClick=${() => remove(b)}>Remove…</button></td></tr>`,
            )}</tbody>
          </table>`}
      <${Pager} list=${list} />
    </section>
    <${Confirm} ask=${ask} onClose=${() => setAsk(undefined)} />`;
}

function AuditScreen() {
  const [day, setDay] = useState(new Date().toISOString().slice(0, 10));
  const list = usePaged((cursor) => call('GET', withQuery('audit', { day, cursor, limit: '50' })), 'entries', [day]);
  return html`<section data-testid="audit" aria-busy=${String(list.loading)}>
    <h2>Audit trail: who changed what, when (UTC, newest first)</h2>
    <form class="inline"><label>day<input type="date" value=${day} onInput=${(e) => e.target.value && setDay(e.target.value)} /></label></form>
    <${ErrorLine} error=${list.error} />
    ${list.data && list.items.length === 0
      ? html`<p class="empty">Nothing changed on ${day}.</p>`
      : html`<table>
          <thead><tr><th>at</th><th>actor</th><th>action</th><th>subject</th><th>detail</th></tr></thead>
          <tbody>${list.items.map(
            (e) => html`<tr><td>${String(e.at).slice(11, 19)}</td><td class="muted">${e.actor}</td><td>${e.action}</td><td>${e.subject}</td><td><code>${e.detail ? JSON.stringify(e.detail) : ''}</code></td></tr>`,
          )}</tbody>
        </table>`}
    <${Pager} list=${list} />
  </section>`;
}

const SCREENS = { fleet: ['Fleet and rollouts', FleetScreen], licenses: ['Licenses', LicensesScreen], blacklist: ['Blacklist', BlacklistScreen], audit: ['Audit trail', AuditScreen] };

function App() {
  const [screen, setScreen] = useState('fleet');
  const Screen = SCREENS[screen][1];
  return html`
    <nav>${Object.entries(SCREENS).map(([id, [label]]) => html`<button data-screen=${id} aria-current=${screen === id ? 'page' : undefined} onClick=${() => setScreen(id)}>${label}</button>`)}</nav>
    <${Screen} key=${screen} />`;
}

const root = document.getElementById('app');
root.textContent = '';
render(html`<${App} />`, root);
