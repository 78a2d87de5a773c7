// VS Code client for the hapax language server (`hapax lsp`, LSP 3.17 over stdio).
// Plain JavaScript on purpose: no TypeScript build step.
"use strict";

const vscode = require("vscode");
const { LanguageClient } = require("vscode-languageclient/node");

/** @type {LanguageClient | undefined} */
let client;

function createClient() {
  const config = vscode.workspace.getConfiguration("hapax");
  const command = config.get("server.path") || "hapax";

  // No `transport` on purpose: the client then talks over the child's stdin/stdout
  // without appending `--stdio`, so the server runs exactly as `<path> lsp`.
  /** @type {import("vscode-languageclient/node").ServerOptions} */
  const serverOptions = {
    run: { command, args: ["lsp"] },
    debug: { command, args: ["lsp"] },
  };

  /** @type {import("vscode-languageclient/node").LanguageClientOptions} */
  const clientOptions = {
    documentSelector: [
      { scheme: "file", language: "hapax" },
      { scheme: "untitled", language: "hapax" },
    ],
    synchronize: {
      // Imported files and Cedar policies can change on disk; let the server recompile the set.
      fileEvents: vscode.workspace.createFileSystemWatcher("**/*.{hapax,cedar}"),
    },
  };

  // The id "hapax" makes vscode-languageclient honour the `hapax.trace.server` setting.
  return new LanguageClient("hapax", "Hapax Language Server", serverOptions, clientOptions);
}

async function startClient() {
  client = createClient();
  try {
    await client.start();
  } catch (err) {
    const path = vscode.workspace.getConfiguration("hapax").get("server.path") || "hapax";
    vscode.window.showErrorMessage(
      `Hapax: could not start the language server with \`${path} lsp\`: ${err && err.message ? err.message : err}. ` +
        "Install hapax or set `hapax.server.path`."
    );
  }
}

async function stopClient() {
  if (!client) return;
  const c = client;
  client = undefined;
  try {
    await c.stop();
  } catch (_) {
    // The server may already be gone; nothing to do.
  }
}

/** @param {vscode.ExtensionContext} context */
async function activate(context) {
  context.subscriptions.push(
    vscode.commands.registerCommand("hapax.restartServer", async () => {
      await stopClient();
      await startClient();
    }),
    vscode.workspace.onDidChangeConfiguration(async (e) => {
      if (e.affectsConfiguration("hapax.server.path")) {
        await stopClient();
        await startClient();
      }
    })
  );
  await startClient();
}

function deactivate() {
  return stopClient();
}

module.exports = { activate, deactivate };
