// live.js — the live event stream: POST /v1/ws/token with the key, then
// the WebSocket /ws on this origin, first frame {"type":"auth","token"}
// (seed 003's browser flow: the key is never in a URL or a frame). Events
// (sms_status, sms_inbound) go to every listener; pings are ignored. A lost
// connection is made again with a new token, after 1 s doubling to 30 s.

import { api } from './api.js';

export class Live {
  constructor(onState) {
    this.listeners = new Set();
    this.onState = onState;
    this.ws = null;
    this.stopped = true;
    this.delay = 1000;
    this.timer = null;
    this.state = 'closed';
  }

  on(fn) { this.listeners.add(fn); return () => this.listeners.delete(fn); }

  setState(state, detail) {
    this.state = state;
    this.onState && this.onState(state, detail);
  }

  async start() {
    this.stopped = false;
    clearTimeout(this.timer);
    this.setState('connecting');
    let token;
    try {
      token = (await api('POST', '/v1/ws/token')).token;
    } catch (e) {
      this.retry(e.message);
      return;
    }
    if (this.stopped) return;
    const url = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/ws';
    const ws = new WebSocket(url);
    this.ws = ws;
    ws.onopen = () => ws.send(JSON.stringify({ type: 'auth', token }));
    ws.onmessage = (ev) => {
      let m;
      try { m = JSON.parse(ev.data); } catch { return; }
      if (m.type === 'auth_ok') {
        this.delay = 1000;
        this.setState('open');
      } else if (m.type === 'auth_error') {
        this.setState('error', m.error);
      } else if (m.type === 'sms_status' || m.type === 'sms_inbound') {
        for (const fn of this.listeners) {
          try { fn(m); } catch (e) { console.error(e); }
        }
      }
    };
    ws.onclose = (ev) => {
      if (this.ws !== ws) return;
      this.ws = null;
      if (this.stopped) return;
      this.retry(ev.code === 1008 ? 'refused (1008)' : 'closed (' + ev.code + ')');
    };
  }

  retry(why) {
    if (this.stopped) return;
    this.setState('retrying', why);
    this.timer = setTimeout(() => this.start(), this.delay);
    this.delay = Math.min(this.delay * 2, 30000);
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    if (this.ws) {
      const ws = this.ws;
      this.ws = null;
      ws.close(1000);
    }
    this.setState('closed');
  }
}
