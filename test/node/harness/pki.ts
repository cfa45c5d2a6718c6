import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { sh } from './host.js';

/**
 * The node's own certificate authority, made with openssl: the kubelet trusts it for client
 * certificates (so only the API server, with one it signed, reads logs and execs), and the API
 * server trusts it for the kubelet's serving certificate. Keys stay in the node's temp dir and
 * go when it does.
 */

export interface CertFiles {
  cert: string;
  key: string;
}

export interface CertRequest {
  /** The file name stem: `<name>.crt`, `<name>.key`. */
  name: string;
  /** The subject's CN: a client certificate's user name. */
  commonName: string;
  /** The subject's O: a client certificate's groups. */
  organizations?: readonly string[];
  /** A serving certificate's addresses (subjectAltName IP entries). */
  ips?: readonly string[];
  dnsNames?: readonly string[];
  usage: 'client' | 'server';
}

export class Pki {
  private constructor(
    readonly dir: string,
    /** The CA certificate's path. */
    readonly caFile: string,
    private readonly caKey: string,
  ) {}

  /** A fresh CA (EC P-256, quick to make) in `dir`. */
  static async create(dir: string): Promise<Pki> {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const caKey = join(dir, 'ca.key');
    const caFile = join(dir, 'ca.crt');
    await sh('openssl', ['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', caKey]);
    await sh('openssl', [
      'req',
      '-x509',
      '-new',
      '-key',
      caKey,
      '-subj',
      '/CN=nimbus-test-node-ca',
      '-days',
      '2',
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
      '-out',
      caFile,
    ]);
    return new Pki(dir, caFile, caKey);
  }

  /** A key and a certificate signed by this CA, valid for two days. */
  async issue(request: CertRequest): Promise<CertFiles> {
    const key = join(this.dir, `${request.name}.key`);
    const csr = join(this.dir, `${request.name}.csr`);
    const cert = join(this.dir, `${request.name}.crt`);
    const ext = join(this.dir, `${request.name}.ext`);
    const subject = [
      `/CN=${request.commonName}`,
      ...(request.organizations ?? []).map((o) => `/O=${o}`),
    ].join('');
    const altNames = [
      ...(request.ips ?? []).map((ip) => `IP:${ip}`),
      ...(request.dnsNames ?? []).map((name) => `DNS:${name}`),
    ];
    await writeFile(
      ext,
      [
        'basicConstraints=critical,CA:FALSE',
        'keyUsage=critical,digitalSignature,keyEncipherment',
        `extendedKeyUsage=${request.usage === 'client' ? 'clientAuth' : 'serverAuth'}`,
        ...(altNames.length > 0 ? [`subjectAltName=${altNames.join(',')}`] : []),
        '',
      ].join('\n'),
    );
    await sh('openssl', ['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', key]);
    await sh('openssl', ['req', '-new', '-key', key, '-subj', subject, '-out', csr]);
    await sh('openssl', [
      'x509',
      '-req',
      '-in',
      csr,
      '-CA',
      this.caFile,
      '-CAkey',
      this.caKey,
      '-CAcreateserial',
      '-days',
      '2',
      '-extfile',
      ext,
      '-out',
      cert,
    ]);
    return { cert, key };
  }
}
