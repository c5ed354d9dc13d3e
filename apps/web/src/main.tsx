import { registerSW } from 'virtual:pwa-register'
import { render } from 'solid-js/web'
import { App } from './app.js'
import './styles/app.css'

render(() => <App />, document.getElementById('root')!)

// The service worker precaches the app shell, so the app boots offline after the first visit.
if ('serviceWorker' in navigator) registerSW({ immediate: true })
