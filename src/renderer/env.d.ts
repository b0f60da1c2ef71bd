/// <reference types="vite/client" />
import type { ShellInfo } from '../common/api';

declare global {
  interface Window {
    /** Set by the Electron preload bridge; absent when the UI runs in a plain browser. */
    readonly station?: ShellInfo;
  }
}

declare module '*.vue' {
  import type { DefineComponent } from 'vue';
  const component: DefineComponent<object, object, unknown>;
  export default component;
}
