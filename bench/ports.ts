import { execFileSync } from 'node:child_process';

/** A free TCP port on 127.0.0.1 (asked of a short-lived child so this stays synchronous). */
export function freePortSync(): number {
  const script =
    "const s=require('net').createServer();s.listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})";
  return Number(execFileSync(process.execPath, ['-e', script]).toString().trim());
}
