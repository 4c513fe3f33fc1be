// The CDK app that `cdk.json` runs. Everything it does lives in define-app.ts so tests synthesize the same app.
import { App } from 'aws-cdk-lib';
import { defineApp } from './define-app.ts';

defineApp(new App());
